"""The benchmarks: one command, one table, every figure next to its anchor measured in the same run.

    python -m benchmarks                     # every row (about 5 minutes on two cores)
    python -m benchmarks --quick             # small counts: a smoke test, under a minute
    python -m benchmarks --only hot cpu-trio # some rows (a group name selects all its rows)
    python -m benchmarks --json results.json # also write the results
    python -m benchmarks --list              # the rows' names

The machine is noisy, so every figure is a ratio against an anchor measured in the same run with
the calls interleaved (adapter, bare, adapter, ...), never an absolute time compared with a
threshold; the tests run the command only to check that it works (``tests/test_benchmarks.py``).
Servers run as real processes on 127.0.0.1 and are SIGKILLed at the end. A row that fails prints
``error: ...`` in its line and the run goes on.

The rows, one module each:

- ``hot_path``: warm calls through each adapter against its bare twin (SDK 2.3.0 server; aiohttp
  also on the test server);
- ``cpu``: the library's CPU per call on a live session, over an in-memory wire (asyncio, trio);
- ``restart``: the first call after a SIGKILL restart against a warm call;
- ``promptness``: how soon a call waiting out a restart completes once the server accepts again
  (refused connections, a gateway's 502 and 404 windows; default options), and the attempts
  the client made while it was down;
- ``herd``: 100 and 1,000 concurrent calls across a restart (initializes sent, all answered);
- ``memory``: traced memory over 100,000 calls (and over one session never lost), per idle Session;
- ``big_answers``: 1 MiB answers through each adapter, timed and checked byte for byte.
- ``bridges``: a warm call direct, through ``stdio`` and through ``proxy`` (the TypeScript SDK client
  when node is present, and the Python SDK client), interleaved in one run.

Shared pieces: ``common`` (scale, timing, interleaving, servers, the table), ``clients`` (the SDK
client, the pass-through wrapper, raw JSON-RPC over httpx2, httpx and aiohttp), ``fake_wire`` (an
in-memory server behind the runtime's ``Wire``), ``rows`` (the order and ``--only``).

The soak is its own command, ``python -m benchmarks.soak`` (see ``benchmarks/soak``).
"""
