-- A GET of one URL with the headers of BENCH_HEADERS (a logged-in page, the API with a
-- bearer token, the baseline). No request() function: wrk builds the request once.
dofile("report.lua")
