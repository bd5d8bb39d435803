"""The fleet scenario's reader (docs/nats.md, "The fleet scenario"): a durable pull consumer,
written with nats-py (the official Python client, pinned in scripts/pyenv-requirements.txt),
reads the stream while the producers run and the stream's leader is killed, acknowledges each
message it read (AckPolicy.EXPLICIT: an ack per message, the batch's last one confirmed with
ack_sync and retried, bounded, when the consumer's leader changes meanwhile; a message lost on
the way to us is never acknowledged, so JetStream delivers it again after ACK_WAIT), and prints
what it saw as key=value lines for tests/it/nats_fleet.rs to check.

    consumer.py --servers nats://127.0.0.1:P1,... --stream FLEET --durable fleet \
                --expect 100000 --deadline 300

Stops when `--expect` distinct stream sequences have been read, or at the deadline. Every wait
is bounded (fetch: 2 s; the whole run: --deadline seconds)."""

import argparse
import asyncio
import json
import sys
import time

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

# Seconds before JetStream delivers again a message we did not acknowledge (one lost on the way
# to us while a server restarts): short, so that a lost message costs seconds, not the deadline.
ACK_WAIT = 5


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", required=True)
    ap.add_argument("--stream", required=True)
    ap.add_argument("--durable", required=True)
    ap.add_argument("--expect", type=int, required=True)
    ap.add_argument("--deadline", type=float, default=300)
    a = ap.parse_args()
    end = time.monotonic() + a.deadline
    errors = {"n": 0}

    async def on_error(e):
        errors["n"] += 1

    nc = await nats.connect(servers=a.servers.split(","), max_reconnect_attempts=-1,
                            reconnect_time_wait=0.2, connect_timeout=2,
                            error_cb=on_error, allow_reconnect=True)
    js = nc.jetstream(timeout=5)
    cfg = ConsumerConfig(durable_name=a.durable, ack_policy=AckPolicy.EXPLICIT,
                         deliver_policy=DeliverPolicy.ALL, ack_wait=ACK_WAIT,
                         max_ack_pending=20000)
    sub = None
    while sub is None:
        try:
            sub = await js.pull_subscribe("falco.>", durable=a.durable, stream=a.stream, config=cfg)
        except Exception as e:  # the cluster may still be electing the stream's leader
            if time.monotonic() > end:
                raise
            print(f"consumer: pull_subscribe: {e!r}; retrying", file=sys.stderr, flush=True)
            await asyncio.sleep(0.5)

    seen = {}          # stream sequence -> (msg id, hostname, evt.num)
    deliveries = 0     # messages handed to us, redeliveries included
    redelivered = 0    # of which num_delivered > 1
    fetch_errors = 0
    ack_retries = 0
    again = 0          # deliveries of a stream sequence already read (e.g. after the
                       # consumer's leader changed: JetStream delivers at least once)

    async def take(msgs):
        nonlocal deliveries, redelivered, again, ack_retries
        for m in msgs:
            deliveries += 1
            md = m.metadata
            if md.num_delivered > 1:
                redelivered += 1
            if md.sequence.stream in seen:
                again += 1
            else:
                h = m.headers or {}
                body = json.loads(m.data)
                seen[md.sequence.stream] = (h.get("Nats-Msg-Id"), h.get("Falco-Hostname"),
                                            int(body["output_fields"]["evt.num"]))
            if m is not msgs[-1]:
                await m.ack()
        if msgs:
            last = msgs[-1]
            for _ in range(20):
                try:
                    await last.ack_sync(timeout=2)
                    break
                except Exception as e:
                    ack_retries += 1
                    print(f"consumer: ack: {e!r}; retrying", file=sys.stderr, flush=True)
                    await asyncio.sleep(0.3)

    async def fetch(timeout):
        nonlocal fetch_errors
        try:
            return await sub.fetch(1000, timeout=timeout)
        except nats.errors.TimeoutError:
            return None
        except Exception as e:
            fetch_errors += 1
            if fetch_errors % 20 == 1:
                print(f"consumer: fetch: {e!r}", file=sys.stderr, flush=True)
            await asyncio.sleep(0.2)
            return []

    while len(seen) < a.expect and time.monotonic() < end:
        await take(await fetch(2) or [])
    # Whatever is still delivered (again) is read and acknowledged too, until 1 s of quiet.
    for _ in range(10):
        msgs = await fetch(1)
        if msgs is None:
            break
        await take(msgs)

    # What the consumer says of itself: nothing pending once everything was read.
    pending = ack_pending = -1
    for _ in range(20):
        try:
            info = await js.consumer_info(a.stream, a.durable)
            pending, ack_pending = info.num_pending, info.num_ack_pending
            if ack_pending == 0:
                break
        except Exception:
            pass
        await asyncio.sleep(0.5)
    await nc.close()

    ids = {v[0] for v in seen.values()}
    pairs = {(v[1], v[2]) for v in seen.values()}
    per_host = {}
    for seq in sorted(seen):
        _, host, num = seen[seq]
        per_host.setdefault(host, []).append(num)
    # Per host, in stream order: how many alerts were stored after a later one of the same
    # host, and by how much at most (docs/nats.md, Order: less than max_in_flight).
    displaced = max_back = 0
    complete = 0
    for host, nums in per_host.items():
        top = 0
        for n in nums:
            if n < top:
                displaced += 1
                max_back = max(max_back, top - n)
            top = max(top, n)
        if sorted(nums) == list(range(1, len(nums) + 1)):
            complete += 1
    sizes = sorted(len(v) for v in per_host.values())
    out = {
        "read": len(seen), "deliveries": deliveries, "redelivered": redelivered,
        "delivered_again": again,
        "distinct_ids": len(ids), "distinct_host_num": len(pairs), "hosts": len(per_host),
        "hosts_complete": complete, "min_per_host": sizes[0] if sizes else 0,
        "max_per_host": sizes[-1] if sizes else 0, "displaced": displaced,
        "max_displacement": max_back, "num_pending": pending, "num_ack_pending": ack_pending,
        "fetch_errors": fetch_errors, "ack_retries": ack_retries, "client_errors": errors["n"],
    }
    for k, v in out.items():
        print(f"{k}={v}")


asyncio.run(main())
