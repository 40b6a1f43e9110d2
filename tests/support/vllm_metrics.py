"""A sample of vLLM's /metrics exposition: request histograms with known percentiles."""

EXPOSITION = """\
# HELP vllm:request_queue_time_seconds Histogram of time spent in WAITING phase for request.
# TYPE vllm:request_queue_time_seconds histogram
vllm:request_queue_time_seconds_bucket{le="0.5",model_name="m"} 50.0
vllm:request_queue_time_seconds_bucket{le="1.0",model_name="m"} 90.0
vllm:request_queue_time_seconds_bucket{le="2.0",model_name="m"} 100.0
vllm:request_queue_time_seconds_bucket{le="+Inf",model_name="m"} 100.0
vllm:request_queue_time_seconds_count{model_name="m"} 100.0
vllm:request_queue_time_seconds_sum{model_name="m"} 60.0
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="m"} 10.0
vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="m"} 20.0
vllm:time_to_first_token_seconds_count{model_name="m"} 20.0
vllm:time_to_first_token_seconds_sum{model_name="m"} 3.0
# HELP vllm:num_requests_running Number of requests running.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 1.0
"""
