-- wrk: POST the KServe v2 JSON body in the file $PAYLOAD (ops/bench-http.sh).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local file = assert(io.open(os.getenv("PAYLOAD"), "r"))
wrk.body = file:read("*a")
file:close()
