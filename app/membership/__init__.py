"""Who belongs to a family group: joining, leaving, removal and dissolving (BR-038, BR-040,
BR-045..BR-057), and the family page that shows members, places and connections."""
