-- wrk script: POST /api/jobs with a 3-step instant workflow. No per-response
-- callback: one would make wrk itself the bottleneck on two cores. Answers
-- other than 2xx show as wrk's "Non-2xx or 3xx responses" line.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{"name": "Ack Bench", "workflow": {"steps": [
  {"id": "a", "action": {"agent_task": {"prompt": "a"}}, "simulation": {"latency_ms": [0, 0]}},
  {"id": "b", "action": {"agent_task": {"prompt": "b"}}, "simulation": {"latency_ms": [0, 0]}},
  {"id": "c", "action": {"agent_task": {"prompt": "c"}}, "simulation": {"latency_ms": [0, 0]}}
], "dependencies": {"b": ["a"], "c": ["b"]}}, "execute": true}]]
