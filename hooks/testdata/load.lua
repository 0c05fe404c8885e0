-- wrk script for BenchmarkLoad: each request is one signed push delivery
-- from the file named by the first script argument (one per line:
-- signature, a tab, the JSON body), with a delivery id of its own.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

local requests = {}
local counter = 0
local prefix = ""

function init(args)
  for line in io.lines(args[1]) do
    local sig, body = line:match("^([^\t]+)\t(.*)$")
    requests[#requests + 1] = { sig = sig, body = body }
  end
  prefix = string.format("load-%d-%d", os.time(), id)
end

function request()
  counter = counter + 1
  local r = requests[(counter % #requests) + 1]
  return wrk.format("POST", "/hooks/github", {
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = "push",
    ["X-GitHub-Delivery"] = prefix .. "-" .. counter,
    ["X-Hub-Signature-256"] = r.sig,
  }, r.body)
end
