"""gunicorn's settings for a checkout: `gunicorn wsgi:app` run here reads this file. They
live in the package, app/gunicorn_conf.py, so that an installed wheel has them too
(`gunicorn -c python:app.gunicorn_conf 'app:create_app()'`); every name it defines,
settings and hooks alike, is re-exported here."""

from app.gunicorn_conf import *  # noqa: F403 - gunicorn reads the names of this module
