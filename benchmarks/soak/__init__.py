"""The soak: thousands of calls across dozens of real SIGKILL restarts, and nothing lost.

    python -m benchmarks.soak                  # the full run: >= 10,000 calls, >= 50 restarts
    python -m benchmarks.soak --short          # about a minute (the test suite runs it)
    python -m benchmarks.soak --seed 7 --calls 20000 --restarts 100 --minutes 30 --json soak.json

A seeded plan (:mod:`.plan`) cuts the run into episodes. Each episode starts fresh server
processes (:mod:`.servers`: the test server in one of its stale styles, JSON or SSE answers,
the SDK 2.3.0 server, the TypeScript SDK server when node and its packages are there), sometimes
behind a gateway (``testing/proxy.py``) that answers 502 or a plain-text 404 while its backend is
down, opens one client of one kind (:mod:`.clients`: the SDK's ``ClientSession`` over
``RecoveringTransport``, ``connect()``, ``Session`` over ``HttpxWire``), and runs its calls from
1 to 50 concurrent workers (:mod:`.episode`) while the plan's disruptions happen: SIGKILL and an
immediate restart, SIGKILL and an outage, an era switch (``eras`` via ``configure``), cut tool
answers (``cut_tool_responses``).

What is counted (:mod:`.tally`), and how:

- **lost**: a call that ended with neither a result nor one of the library's typed errors, or that
  was still running past its deadline (the library's ``request_timeout`` plus a grace): target 0.
  Typed errors are allowed outcomes (``OutcomeUnknown`` for a non-idempotent call whose answer was
  cut, ``RecoveryFailed``...), counted by name. Through ``RecoveringTransport`` a typed error
  reaches the SDK as a JSON-RPC error with code -32000 naming it, and is counted the same.
- **run twice**: from the servers, never from the client. The test server runs with a ledger
  (``--ledger FILE``): every ``bump`` appends its call's unique token to a file before it
  answers, so a token on two lines ran twice, in one process or across a SIGKILL. The SDK and
  TypeScript servers count executions per tool only; there the count is a lower bound, per
  episode: executions of the non-idempotent tools (read from ``/_stats`` just before each kill
  and at the end) beyond the calls that could have run them.
- **past deadline**: a call that ended (any outcome) later than its deadline plus a grace.
- **initializes per restart**: what each restarted process counted over its life.
- **RSS** of this process at the start and the end.
"""
