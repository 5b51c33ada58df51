"""Parses Prometheus text exposition from stdin with the official client
(prometheus_client.parser) and prints every sample as JSON:
[[name, {labels}, value], ...]. Exits non-zero if the text does not parse."""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families

samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        value = s.value
        if math.isinf(value) or math.isnan(value):
            value = str(value)
        samples.append([s.name, s.labels, value])
json.dump(samples, sys.stdout)
