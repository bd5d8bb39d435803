/* A minimal HTTP/1.1 server on 127.0.0.1 for the HTTP benchmarks: a thread per connection,
 * keep-alive, answers every request "200" with an empty body and counts the alerts it got
 * (body lines; a body without a newline is one alert). Shared by emit_bench.c and
 * falco_baseline.cpp so both talk to the same server code. */
#ifndef BENCH_HTTP_SINK_H
#define BENCH_HTTP_SINK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Starts listening on an ephemeral loopback port; returns the port, or 0 on failure. */
int http_sink_start(void);
/* Alerts received so far (all connections). */
uint64_t http_sink_alerts(void);
/* Requests answered so far. */
uint64_t http_sink_requests(void);

#ifdef __cplusplus
}
#endif

#endif
