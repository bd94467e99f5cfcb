"""Tables of the spec written out by hand, for tests to compare the database with."""

# SPEC §2, written out pair by pair: (code, gender of A) -> inverse.
SPEC_INVERSES = {
    ("con_trai", 0): "bo", ("con_trai", 1): "me", ("con_gai", 0): "bo", ("con_gai", 1): "me",
    ("bo", 0): "con_trai", ("bo", 1): "con_gai", ("me", 0): "con_trai", ("me", 1): "con_gai",
    ("anh_trai", 0): "em_trai", ("anh_trai", 1): "em_gai",
    ("chi_gai", 0): "em_trai", ("chi_gai", 1): "em_gai",
    ("em_trai", 0): "anh_trai", ("em_trai", 1): "chi_gai",
    ("em_gai", 0): "anh_trai", ("em_gai", 1): "chi_gai",
    ("vo", 0): "chong", ("vo", 1): "khac", ("chong", 0): "khac", ("chong", 1): "vo",
    ("ong", 0): "chau", ("ong", 1): "chau", ("ba", 0): "chau", ("ba", 1): "chau",
    ("chau", 0): "ong", ("chau", 1): "ba", ("khac", 0): "khac", ("khac", 1): "khac",
}
