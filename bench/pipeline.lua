-- wrk script: send requests in pipelined batches over each keep-alive connection.
-- wrk counts the requests in the string returned by request() and waits for
-- that many responses before sending the next batch, so one write carries
-- the whole batch. Depth comes from env PIPELINE_DEPTH (default 16);
-- env BENCH_CONNECTIONS (wrk -c) is needed for the latency fix-up in done().

local depth = tonumber(os.getenv("PIPELINE_DEPTH") or "") or 16
local batch

-- Build the batch once per thread: wrk.format() uses the URL, method and
-- headers given on the command line, so every copy is an ordinary GET.
init = function(args)
  local reqs = {}
  for i = 1, depth do
    reqs[i] = wrk.format()
  end
  batch = table.concat(reqs)
end

request = function()
  return batch
end

-- wrk's own percentiles are wrong for pipelined runs. wrk records one
-- latency sample per batch, but before reporting it "corrects" for
-- coordinated omission with an interval derived from the number of
-- *responses*, i.e. 16x too small: it adds many synthetic samples, most of
-- them below the smallest real one, where its percentile scan never looks
-- (so the 99% line often reads 0.00us). The correction is exactly
-- invertible, so undo it here and print the real per-batch percentiles.
--
-- What wrk 4.1 did: interval e = floor(duration_us / floor(responses / conns));
-- for every bucket n >= 2e, its count was added to buckets n-e, n-2e, ... > e.
-- Hence corrected[v] = real[v] + corrected[v+e] for v > e, and
-- real[v] = corrected[v] for v <= e.
-- latency(i) returns (value_us, count) of the i-th non-empty bucket in
-- ascending order, and #latency is the number of such buckets.
done = function(summary, latency, requests)
  local conns = tonumber(os.getenv("BENCH_CONNECTIONS") or "")
  local buckets = #latency
  if not conns or buckets == 0 then
    return
  end
  -- Each latency(i) call scans the histogram from its minimum; stay cheap.
  if buckets * (latency.max - latency.min) > 4e9 then
    io.write("pipeline-batch-latency skipped (histogram too wide)\n")
    return
  end

  local per_conn = math.floor(summary.requests / conns)
  local e = math.huge -- wrk skips the correction when per_conn is 0
  if per_conn > 0 then
    e = math.floor(summary.duration / per_conn)
  end

  local values, corrected = {}, {}
  for i = 1, buckets do
    local v, c = latency(i)
    values[i] = v
    corrected[v] = c
  end
  local real, total = {}, 0
  for i = 1, buckets do
    local v = values[i]
    local c = corrected[v]
    if v > e then
      c = c - (corrected[v + e] or 0)
    end
    real[i] = c
    total = total + c
  end

  local function percentile(p)
    local rank, seen = math.ceil(total * p / 100), 0
    for i = 1, buckets do
      seen = seen + real[i]
      if seen >= rank then
        return values[i]
      end
    end
    return values[buckets]
  end
  io.write(string.format("pipeline-batch-latency batches=%d p50_us=%d p99_us=%d\n",
    total, percentile(50), percentile(99)))
end
