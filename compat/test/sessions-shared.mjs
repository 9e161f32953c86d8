// Session behaviour, defined once and instantiated per transport by
// sessions-fetch.test.mjs and sessions-s2s.test.mjs (API.md 8.5, 9, 10,
// 17.2, 17.3 "Sessions").
//
// With transport "fetch" the SDK uses SSE for read sessions and sequential
// unary appends for append sessions; with "s2s" it uses the binary S2S
// protocol over cleartext HTTP/2 for both.

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import {
	BatchTransform,
	Producer,
	RangeNotSatisfiableError,
	SeqNumMismatchError,
} from "@s2-dev/streamstore";
import {
	AppendInput,
	AppendRecord,
	appendStrings,

	dec,
	drain,
	ENDPOINT,
	enc,
	freshBasin,
	makeClient,
	range,
	rejectsWith,
	seqNums,
	sleep,
	streamName,
	take,
} from "./helpers.mjs";

/** The SDK's own idle timeouts (API.md 9.3, 10.5). */
const SDK_IDLE_TIMEOUT_MS = { fetch: 25_000, s2s: 20_000 };

export function defineSessionTests(transport) {
	const s2 = makeClient();
	let basin;

	const newStream = async (tag = "s", config) => {
		const name = streamName(tag);
		await basin.streams.create(config ? { stream: name, config } : { stream: name });
		return basin.stream(name, { forceTransport: transport });
	};

	before(async () => {
		basin = await freshBasin(s2, `ss-${transport}`);
	});

	describe(`[${transport}] append session`, () => {
		test(`[${transport}] pipelined submits are acked strictly in order; positions match reads`, async () => {
			const st = await newStream();
			const session = await st.appendSession();
			const N = 20;
			const tickets = [];
			for (let i = 0; i < N; i++) {
				const batch = AppendInput.create([
					AppendRecord.string({ body: `b${i}-0` }),
					AppendRecord.string({ body: `b${i}-1`, headers: [["i", String(i)]] }),
					AppendRecord.bytes({ body: enc.encode(`b${i}-2`) }),
				]);
				tickets.push(await session.submit(batch));
			}
			const order = [];
			const acks = await Promise.all(
				tickets.map((t, i) =>
					t.ack().then((a) => {
						order.push(i);
						return a;
					}),
				),
			);
			assert.deepEqual(order, range(0, N), "acks must resolve in submission order");
			for (let i = 0; i < N; i++) {
				assert.equal(acks[i].start.seqNum, 3 * i);
				assert.equal(acks[i].end.seqNum, 3 * i + 3);
				assert.ok(acks[i].tail.seqNum >= acks[i].end.seqNum);
			}
			assert.equal(session.lastAckedPosition()?.end.seqNum, 3 * N);
			await session.close();
			const read = await st.read({ start: { from: { seqNum: 0 } } });
			assert.deepEqual(seqNums(read.records), range(0, 3 * N));
			for (let i = 0; i < N; i++) {
				assert.equal(read.records[3 * i].timestamp.getTime(), acks[i].start.timestamp.getTime());
				assert.equal(read.records[3 * i + 2].timestamp.getTime(), acks[i].end.timestamp.getTime());
				assert.equal(read.records[3 * i + 1].body, `b${i}-1`);
				assert.deepEqual(read.records[3 * i + 1].headers, [["i", String(i)]]);
			}
			await st.close();
		});

		test(`[${transport}] the acks stream yields every ack in order`, async () => {
			const st = await newStream();
			const session = await st.appendSession();
			const seen = [];
			const reader = (async () => {
				for await (const ack of session.acks()) seen.push([ack.start.seqNum, ack.end.seqNum]);
			})();
			for (let i = 0; i < 8; i++) {
				await session.submit(AppendInput.create([AppendRecord.string({ body: `x${i}` })]));
			}
			await session.close();
			await reader;
			assert.deepEqual(
				seen,
				range(0, 8).map((i) => [i, i + 1]),
			);
			await st.close();
		});

		test(`[${transport}] close waits for outstanding acks`, async () => {
			const st = await newStream();
			const session = await st.appendSession();
			const settled = [];
			for (let i = 0; i < 10; i++) {
				const t = await session.submit(AppendInput.create([AppendRecord.string({ body: `c${i}` })]));
				t.ack().then(
					(a) => settled.push(a.start.seqNum),
					() => settled.push(-1),
				);
			}
			await session.close();
			await sleep(0);
			assert.deepEqual(settled, range(0, 10));
			assert.equal((await st.checkTail()).tail.seqNum, 10);
			await st.close();
		});

		test(`[${transport}] match_seq_num failure: earlier acks, then the 412 error, nothing after`, async () => {
			const st = await newStream();
			const session = await st.appendSession();
			const two = (p) => [AppendRecord.string({ body: `${p}a` }), AppendRecord.string({ body: `${p}b` })];
			const t0 = await session.submit(AppendInput.create(two("0"), { matchSeqNum: 0 }));
			const t1 = await session.submit(AppendInput.create(two("1"), { matchSeqNum: 2 }));
			const t2 = await session.submit(AppendInput.create(two("2"), { matchSeqNum: 99 }));
			let t3;
			try {
				// Would succeed on its own (match 4) if the server kept going.
				t3 = await session.submit(AppendInput.create(two("3"), { matchSeqNum: 4 }));
			} catch {
				t3 = undefined; // the session may already have failed: also fine
			}
			const [r0, r1, r2, r3] = await Promise.allSettled([t0.ack(), t1.ack(), t2.ack(), t3 ? t3.ack() : Promise.reject(new Error("not submitted"))]);
			assert.equal(r0.status, "fulfilled", String(r0.reason));
			assert.equal(r0.value.start.seqNum, 0);
			assert.equal(r1.status, "fulfilled", String(r1.reason));
			assert.equal(r1.value.start.seqNum, 2);
			assert.equal(r1.value.end.seqNum, 4);
			assert.equal(r2.status, "rejected");
			assert.ok(r2.reason instanceof SeqNumMismatchError, `got ${r2.reason?.constructor?.name}: ${r2.reason?.message}`);
			assert.equal(r2.reason.status, 412);
			assert.equal(r2.reason.expectedSeqNum, 4);
			assert.match(r2.reason.message, /sequence number mismatch/);
			assert.equal(r3.status, "rejected", "no ack may follow the error");
			assert.ok(session.failureCause() instanceof SeqNumMismatchError);
			await session.close().catch(() => {});
			assert.equal((await st.checkTail()).tail.seqNum, 4, "input after the failing batch must not be processed");
			await st.close();
		});

		test(`[${transport}] fencing token mismatch fails the session with 412`, async () => {
			const st = await newStream();
			await st.append(AppendInput.create([AppendRecord.fence("owner")]));
			const session = await st.appendSession();
			const ok = await session.submit(AppendInput.create([AppendRecord.string({ body: "ok" })], { fencingToken: "owner" }));
			const bad = await session.submit(AppendInput.create([AppendRecord.string({ body: "bad" })], { fencingToken: "intruder" }));
			const [a, b] = await Promise.allSettled([ok.ack(), bad.ack()]);
			assert.equal(a.status, "fulfilled", String(a.reason));
			assert.equal(a.value.start.seqNum, 1);
			assert.equal(b.status, "rejected");
			assert.equal(b.reason.status, 412);
			assert.equal(b.reason.expectedFencingToken, "owner");
			await session.close().catch(() => {});
			assert.equal((await st.checkTail()).tail.seqNum, 2);
			await st.close();
		});

		test(`[${transport}] append session on a missing stream fails with 404`, async () => {
			const st = basin.stream(streamName("missing"), { forceTransport: transport });
			const session = await st.appendSession();
			const t = await session.submit(AppendInput.create([AppendRecord.string({ body: "x" })]));
			await rejectsWith(t.ack(), { status: 404, code: "stream_not_found" });
			await session.close().catch(() => {});
			await st.close();
		});

		test(`[${transport}] producer: 50 records acked with consecutive sequence numbers`, async () => {
			const st = await newStream();
			const producer = new Producer(new BatchTransform({ lingerDurationMillis: 5, maxBatchRecords: 7 }), await st.appendSession());
			const tickets = [];
			for (let i = 0; i < 50; i++) {
				tickets.push(await producer.submit(AppendRecord.string({ body: `p${i}` })));
			}
			const acks = await Promise.all(tickets.map((t) => t.ack()));
			assert.deepEqual(
				acks.map((a) => a.seqNum()),
				range(0, 50),
			);
			await producer.close();
			const read = await st.read({ start: { from: { seqNum: 0 } } });
			assert.deepEqual(
				read.records.map((r) => r.body),
				range(0, 50).map((i) => `p${i}`),
			);
			await st.close();
		});
	});

	describe(`[${transport}] read session`, () => {
		test(`[${transport}] count N yields exactly the first N records, then ends`, async () => {
			const st = await newStream();
			await appendStrings(st, 10, "r");
			const session = await st.readSession({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 4 } } });
			const { records, error, timedOut } = await drain(session, { timeoutMs: 5000 });
			assert.equal(timedOut, false, "session with a count limit must end by itself");
			assert.equal(error, undefined, String(error));
			assert.deepEqual(seqNums(records), [0, 1, 2, 3]);
			assert.deepEqual(
				records.map((r) => r.body),
				["r0", "r1", "r2", "r3"],
			);
			await st.close();
		});

		test(`[${transport}] count larger than one server batch (2500 records)`, async () => {
			const st = await newStream();
			for (let i = 0; i < 3; i++) await appendStrings(st, 1000, `g${i}-`);
			const session = await st.readSession({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 2500 } } });
			const { records, error, timedOut } = await drain(session, { timeoutMs: 10000 });
			assert.equal(timedOut, false);
			assert.equal(error, undefined, String(error));
			assert.equal(records.length, 2500);
			assert.deepEqual(seqNums(records), range(0, 2500));
			assert.equal(records[2499].body, "g2-499");
			await st.close();
		});

		test(`[${transport}] bytes limit stops before the record that would exceed it`, async () => {
			const st = await newStream();
			await st.append(
				AppendInput.create([
					AppendRecord.string({ body: "first" }),
					AppendRecord.string({ body: "second" }),
					AppendRecord.string({ body: "third" }),
				]),
			);
			const session = await st.readSession({ start: { from: { seqNum: 0 } }, stop: { limits: { bytes: 27 } } });
			const { records, error, timedOut } = await drain(session, { timeoutMs: 5000 });
			assert.equal(timedOut, false);
			assert.equal(error, undefined, String(error));
			assert.deepEqual(
				records.map((r) => r.body),
				["first", "second"],
			);
			await st.close();
		});

		test(`[${transport}] until ends the session before the first record at/after it`, async () => {
			const st = await newStream();
			const T = Date.now() - 30_000;
			await st.append(
				AppendInput.create([0, 10, 20].map((d) => AppendRecord.string({ body: `t${d}`, timestamp: T + d }))),
			);
			const session = await st.readSession({ start: { from: { seqNum: 0 } }, stop: { untilTimestamp: T + 20 } });
			const { records, error, timedOut } = await drain(session, { timeoutMs: 5000 });
			assert.equal(timedOut, false);
			assert.equal(error, undefined, String(error));
			assert.deepEqual(seqNums(records), [0, 1]);
			await st.close();
		});

		test(`[${transport}] bytes format round-trips binary bodies and headers`, async () => {
			const st = await newStream();
			const body = Uint8Array.from({ length: 256 }, (_, i) => 255 - i);
			const hk = Uint8Array.from([1, 2, 3]);
			const hv = Uint8Array.from([0xff, 0x00]);
			await st.append(AppendInput.create([AppendRecord.bytes({ body, headers: [[hk, hv]] }), AppendRecord.bytes({ body: new Uint8Array() })]));
			const session = await st.readSession({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 2 } } }, { as: "bytes" });
			const { records, error } = await drain(session, { timeoutMs: 5000 });
			assert.equal(error, undefined, String(error));
			assert.equal(records.length, 2);
			assert.deepEqual(records[0].body, body);
			assert.deepEqual(records[0].headers, [[hk, hv]]);
			assert.equal(records[1].body.length, 0);
			await st.close();
		});

		test(`[${transport}] at the tail with wait=5: no records, ends no earlier than ~5 s`, async () => {
			const st = await newStream();
			await appendStrings(st, 3);
			const t0 = Date.now();
			const session = await st.readSession({ start: { from: { tailOffset: 0 } }, stop: { waitSecs: 5 } });
			const { records, error, timedOut } = await drain(session, { timeoutMs: 15000 });
			const el = Date.now() - t0;
			assert.equal(timedOut, false, "session must end when wait expires");
			assert.equal(error, undefined, String(error));
			assert.deepEqual(records, []);
			assert.ok(el >= 4500 && el < 10000, `ended after ${el} ms`);
			await st.close();
		});

		test(`[${transport}] bounded session beyond the tail is 416`, async () => {
			const st = await newStream();
			await appendStrings(st, 3);
			let err;
			try {
				const session = await st.readSession({ start: { from: { seqNum: 50 } }, stop: { limits: { count: 1 } } });
				const out = await drain(session, { timeoutMs: 5000 });
				err = out.error;
			} catch (e) {
				err = e;
			}
			assert.ok(err instanceof RangeNotSatisfiableError, `got ${err?.constructor?.name} ${err?.status} ${err?.message}`);
			assert.equal(err.status, 416);
			assert.equal(err.tail?.seqNum, 3);
			await st.close();
		});

		test(`[${transport}] read session on a missing stream fails with 404`, async () => {
			const st = basin.stream(streamName("missing"), { forceTransport: transport });
			let err;
			try {
				const session = await st.readSession({ start: { from: { seqNum: 0 } } });
				err = (await drain(session, { timeoutMs: 5000 })).error;
			} catch (e) {
				err = e;
			}
			assert.equal(err?.status, 404, `got ${err?.status} ${err?.message}`);
			assert.equal(err?.code, "stream_not_found");
			await st.close();
		});

		test(`[${transport}] caught up: tail_offset 2 delivers two records, then a heartbeat with the tail`, async () => {
			const st = await newStream();
			await appendStrings(st, 5);
			const session = await st.readSession({ start: { from: { tailOffset: 2 } } });
			const { records, iterator } = await take(session, 2, { timeoutMs: 5000 });
			assert.deepEqual(seqNums(records), [3, 4]);
			let timer;
			const caught = await Promise.race([
				session.caughtUp(),
				new Promise((r) => {
					timer = setTimeout(() => r("timeout"), 5000);
				}),
			]);
			clearTimeout(timer);
			assert.notEqual(caught, "timeout", "no heartbeat with a tail arrived within 5 s of reaching the tail");
			assert.equal(caught.seqNum, 5);
			assert.equal(session.lastObservedTail()?.seqNum, 5);
			assert.equal(session.isCaughtUp(), true);
			assert.equal(session.nextReadPosition()?.seqNum, 5);
			await iterator.return?.();
			await st.close();
		});

		test(`[${transport}] following: live appends arrive promptly with tails`, async () => {
			const st = await newStream();
			await appendStrings(st, 2, "old");
			const session = await st.readSession({ start: { from: { seqNum: 0 } } });
			const first = await take(session, 2, { timeoutMs: 5000 });
			assert.deepEqual(seqNums(first.records), [0, 1]);
			const t0 = Date.now();
			await appendStrings(st, 3, "new");
			const it = first.iterator;
			const got = [];
			while (got.length < 3) {
				const next = await Promise.race([it.next(), sleep(5000).then(() => ({ timeout: true }))]);
				if (next.timeout || next.done) break;
				got.push(next.value);
			}
			assert.deepEqual(seqNums(got), [2, 3, 4]);
			assert.deepEqual(
				got.map((r) => r.body),
				["new0", "new1", "new2"],
			);
			assert.ok(Date.now() - t0 < 3000, "live records must be delivered promptly");
			assert.equal(session.lastObservedTail()?.seqNum, 5);
			await it.return?.();
			await st.close();
		});

		test(`[${transport}] cancelling mid-stream leaves the server healthy; delete right after succeeds`, async () => {
			const st = await newStream();
			await appendStrings(st, 1000, "z");
			await appendStrings(st, 1000, "y");
			const session = await st.readSession({ start: { from: { seqNum: 0 } } });
			const { records, iterator } = await take(session, 10, { timeoutMs: 5000 });
			assert.equal(records.length, 10);
			await iterator.return?.();
			// A second session mid-follow, cancelled via cancel().
			const s2nd = await st.readSession({ start: { from: { tailOffset: 0 } } });
			await sleep(200);
			await s2nd.cancel();
			const health = await fetch(new URL("/health", ENDPOINT));
			assert.equal(health.status, 200);
			const again = await st.read({ start: { from: { seqNum: 1995 } } });
			assert.deepEqual(seqNums(again.records), range(1995, 2000));
			await basin.streams.delete({ stream: st.name });
			await rejectsWith(basin.streams.getConfig({ stream: st.name }), { status: [404, 409] });
			await st.close();
		});

		test(`[${transport}] follower survives the SDK idle timeout thanks to heartbeats`, async () => {
			const st = await newStream();
			await appendStrings(st, 1);
			const session = await st.readSession({ start: { from: { tailOffset: 0 } } });
			const it = session[Symbol.asyncIterator]();
			const pending = it.next();
			// Stay idle past the SDK's own idle timeout (no retries configured).
			await sleep(SDK_IDLE_TIMEOUT_MS[transport] + 1500);
			await appendStrings(st, 1, "late");
			let next;
			try {
				next = await Promise.race([pending, sleep(5000).then(() => ({ timeout: true }))]);
			} catch (e) {
				assert.fail(`session failed while idle: ${e?.status} ${e?.code} ${e?.message}`);
			}
			assert.ok(!next.timeout, "late record not delivered");
			assert.equal(next.done, false, "session ended while idle");
			assert.equal(next.value.seqNum, 1);
			assert.equal(next.value.body, "late0");
			await it.return?.();
			await st.close();
		});
	});

	describe(`[${transport}] concurrency and formats`, () => {
		test(`[${transport}] gapless: unbounded reader follows a pipelined append session`, async () => {
			const st = await newStream("gap");
			const reader = await st.readSession({ start: { from: { seqNum: 0 } } });
			const it = reader[Symbol.asyncIterator]();
			const got = [];
			let readerError;
			let stopReading = false;
			const TOTAL = 600;
			const readLoop = (async () => {
				try {
					while (!stopReading && got.length < TOTAL + 1) {
						const n = await it.next();
						if (n.done) break;
						got.push(n.value);
					}
				} catch (e) {
					readerError = e;
				}
			})();
			const session = await st.appendSession();
			const expected = [];
			const tickets = [];
			for (let b = 0; b < 60; b++) {
				const recs = [];
				for (let i = 0; i < 10; i++) {
					const body = `g${b}-${i}${".".repeat((b * 7 + i) % 50)}`;
					expected.push(body);
					recs.push(i % 3 === 0 ? AppendRecord.bytes({ body: enc.encode(body) }) : AppendRecord.string({ body }));
				}
				tickets.push(await session.submit(AppendInput.create(recs)));
				if (b % 15 === 0) await sleep(20);
			}
			await Promise.all(tickets.map((t) => t.ack()));
			await session.close();
			// The reader keeps following after the writer stops.
			await sleep(300);
			await st.append(AppendInput.create([AppendRecord.string({ body: "after" })]));
			expected.push("after");
			const deadline = Date.now() + 10000;
			while (got.length < TOTAL + 1 && !readerError && Date.now() < deadline) await sleep(25);
			stopReading = true;
			assert.equal(readerError, undefined, `reader failed: ${readerError?.status} ${readerError?.message}`);
			assert.equal(got.length, TOTAL + 1, `reader saw ${got.length} records`);
			assert.deepEqual(seqNums(got), range(0, TOTAL + 1), "every record exactly once, in order, no gaps");
			assert.deepEqual(
				got.map((r) => r.body),
				expected,
			);
			await it.return?.();
			await readLoop;
			await st.close();
		});

		test(`[${transport}] two concurrent writers (append session + unary appends): one gapless order for readers`, async () => {
			const st = await newStream("two");
			const reader = await st.readSession({ start: { from: { seqNum: 0 } } });
			const it = reader[Symbol.asyncIterator]();
			const TOTAL = 200;
			const got = [];
			let readerError;
			const readLoop = (async () => {
				try {
					while (got.length < TOTAL) {
						const n = await it.next();
						if (n.done) break;
						got.push(n.value);
					}
				} catch (e) {
					readerError = e;
				}
			})();
			const sessionWriter = (async () => {
				const session = await st.appendSession();
				const tickets = [];
				for (let i = 0; i < 50; i++) {
					tickets.push(await session.submit(AppendInput.create([AppendRecord.string({ body: `A${i}-0` }), AppendRecord.string({ body: `A${i}-1` })])));
				}
				await Promise.all(tickets.map((t) => t.ack()));
				await session.close();
			})();
			const unaryWriter = (async () => {
				for (let i = 0; i < 50; i++) {
					await st.append(AppendInput.create([AppendRecord.string({ body: `B${i}-0` }), AppendRecord.string({ body: `B${i}-1` })]));
				}
			})();
			await Promise.all([sessionWriter, unaryWriter]);
			const deadline = Date.now() + 10000;
			while (got.length < TOTAL && !readerError && Date.now() < deadline) await sleep(25);
			assert.equal(readerError, undefined, `reader failed: ${readerError?.status} ${readerError?.message}`);
			assert.deepEqual(seqNums(got), range(0, TOTAL));
			const bodies = got.map((r) => r.body);
			const a = bodies.filter((b) => b.startsWith("A"));
			const b = bodies.filter((x) => x.startsWith("B"));
			assert.deepEqual(a, range(0, 50).flatMap((i) => [`A${i}-0`, `A${i}-1`]), "writer A's order preserved");
			assert.deepEqual(b, range(0, 50).flatMap((i) => [`B${i}-0`, `B${i}-1`]), "writer B's order preserved");
			for (let i = 0; i < TOTAL; i += 2) {
				assert.equal(bodies[i].slice(0, -1), bodies[i + 1].slice(0, -1), `batch split at ${i}: ${bodies[i]} / ${bodies[i + 1]}`);
			}
			await it.return?.();
			await readLoop;
			await st.close();
		});

		test(`[${transport}] clamp=true beyond the tail follows from the tail`, async () => {
			const st = await newStream("clamp");
			await appendStrings(st, 3);
			const session = await st.readSession({ start: { from: { seqNum: 1000 }, clamp: true } });
			await sleep(200);
			await appendStrings(st, 2, "c");
			const { records, iterator } = await take(session, 2, { timeoutMs: 5000 });
			assert.deepEqual(seqNums(records), [3, 4]);
			assert.deepEqual(
				records.map((r) => r.body),
				["c0", "c1"],
			);
			await iterator.return?.();
			await st.close();
		});

		test(`[${transport}] start from a timestamp`, async () => {
			const st = await newStream("ts");
			const T = Date.now() - 20_000;
			await st.append(AppendInput.create([0, 5, 10].map((d) => AppendRecord.string({ body: `t${d}`, timestamp: T + d }))));
			const session = await st.readSession({ start: { from: { timestamp: T + 5 } }, stop: { limits: { count: 2 } } });
			const { records, error } = await drain(session, { timeoutMs: 5000 });
			assert.equal(error, undefined, String(error));
			assert.deepEqual(seqNums(records), [1, 2]);
			await st.close();
		});

		test(`[${transport}] maximum-size (1 MiB) batches through the append session and a read session`, async () => {
			const st = await newStream("big");
			const headers = [["k", "v"]];
			const max = AppendRecord.maxBodyBytes(headers);
			assert.equal(max, 1024 * 1024 - (8 + 2 + 2), "SDK metering matches API.md 2.5");
			const session = await st.appendSession();
			const tickets = [];
			for (let i = 0; i < 6; i++) {
				const body = new Uint8Array(max).fill(i + 1);
				tickets.push(await session.submit(AppendInput.create([AppendRecord.bytes({ body, headers })])));
			}
			const acks = await Promise.all(tickets.map((t) => t.ack()));
			assert.deepEqual(
				acks.map((a) => a.start.seqNum),
				range(0, 6),
			);
			await session.close();
			const rs = await st.readSession({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 6 } } }, { as: "bytes" });
			const { records, error, timedOut } = await drain(rs, { timeoutMs: 15000 });
			assert.equal(error, undefined, String(error));
			assert.equal(timedOut, false);
			assert.deepEqual(seqNums(records), range(0, 6));
			for (let i = 0; i < 6; i++) {
				assert.equal(records[i].body.length, max);
				assert.ok(records[i].body.every((x) => x === i + 1), `record ${i} body corrupted`);
			}
			await st.close();
		});

		test(`[${transport}] 30 concurrent followers each see every record`, async () => {
			const st = await newStream("fan");
			const N = 30;
			const sessions = await Promise.all(range(0, N).map(() => st.readSession({ start: { from: { seqNum: 0 } } })));
			const results = sessions.map((s) => take(s, 40, { timeoutMs: 10000 }));
			await sleep(200);
			for (let i = 0; i < 4; i++) await appendStrings(st, 10, `f${i}-`);
			const all = await Promise.all(results);
			for (const [i, r] of all.entries()) {
				assert.deepEqual(seqNums(r.records), range(0, 40), `follower ${i}`);
				await r.iterator.return?.();
			}
			await st.close();
		});

		test(`[${transport}] wait bounds idle time after the last delivered batch`, async () => {
			const st = await newStream("idle");
			await appendStrings(st, 1);
			const t0 = Date.now();
			const session = await st.readSession({ start: { from: { tailOffset: 0 } }, stop: { waitSecs: 2 } });
			const drained = drain(session, { timeoutMs: 15000 });
			await sleep(1200);
			await appendStrings(st, 1, "mid");
			const { records, error, timedOut } = await drained;
			const el = Date.now() - t0;
			assert.equal(error, undefined, String(error));
			assert.equal(timedOut, false);
			assert.deepEqual(seqNums(records), [1]);
			assert.ok(el >= 2900 && el < 8000, `session ended after ${el} ms; the 2 s idle deadline restarts at the delivered batch`);
			await st.close();
		});

		test(`[${transport}] deleting a stream ends its followers`, async () => {
			const st = await newStream("gone");
			await appendStrings(st, 2);
			const session = await st.readSession({ start: { from: { seqNum: 0 } } });
			const first = await take(session, 2, { timeoutMs: 5000 });
			assert.deepEqual(seqNums(first.records), [0, 1]);
			await basin.streams.delete({ stream: st.name });
			const t0 = Date.now();
			let ended = false;
			try {
				while (Date.now() - t0 < 10000) {
					const n = await Promise.race([first.iterator.next(), sleep(10000).then(() => ({ timeout: true }))]);
					if (n.timeout) break;
					if (n.done) {
						ended = true;
						break;
					}
					// Only the stream's final trim command may still be delivered.
					assert.deepEqual(n.value.headers, [["", "trim"]], `unexpected record ${JSON.stringify(n.value)}`);
				}
			} catch {
				ended = true;
			}
			assert.ok(ended, "follower still open 10 s after the stream was deleted");
			await st.close();
		});

		test(`[${transport}] mixed string/bytes batches through the append session read back identically everywhere`, async () => {
			const st = await newStream("mix");
			const session = await st.appendSession();
			const expected = [];
			const tickets = [];
			for (let b = 0; b < 3; b++) {
				const recs = [
					AppendRecord.string({ body: `s${b}`, headers: [["fmt", "string"]] }),
					AppendRecord.bytes({ body: enc.encode(`bytes ${b} ✓`), headers: [[enc.encode("fmt"), enc.encode("bytes")]] }),
					AppendRecord.string({ body: "", headers: [["empty", ""]] }),
				];
				expected.push([`s${b}`, [["fmt", "string"]]], [`bytes ${b} ✓`, [["fmt", "bytes"]]], ["", [["empty", ""]]]);
				tickets.push(await session.submit(AppendInput.create(recs)));
			}
			await Promise.all(tickets.map((t) => t.ack()));
			await session.close();
			const asStrings = (recs) => recs.map((r) => [r.body, r.headers]);
			const fromBytes = (recs) => recs.map((r) => [dec.decode(r.body), r.headers.map(([k, v]) => [dec.decode(k), dec.decode(v)])]);
			const limit = { start: { from: { seqNum: 0 } }, stop: { limits: { count: expected.length } } };

			const unaryS = await st.read({ start: { from: { seqNum: 0 } } });
			assert.deepEqual(asStrings(unaryS.records), expected, "unary JSON read");
			const unaryB = await st.read({ start: { from: { seqNum: 0 } } }, { as: "bytes" });
			assert.deepEqual(fromBytes(unaryB.records), expected, "unary protobuf read");
			const sessS = await drain(await st.readSession(limit), { timeoutMs: 5000 });
			assert.equal(sessS.error, undefined, String(sessS.error));
			assert.deepEqual(asStrings(sessS.records), expected, "session read as strings");
			const sessB = await drain(await st.readSession(limit, { as: "bytes" }), { timeoutMs: 5000 });
			assert.equal(sessB.error, undefined, String(sessB.error));
			assert.deepEqual(fromBytes(sessB.records), expected, "session read as bytes");
			await st.close();
		});

		test(`[${transport}] resumable-stream pattern: claim, fenced pipelined writes, terminal fence, replay`, async () => {
			const b = await freshBasin(s2, `rs-${transport}`, { createStreamOnAppend: true, createStreamOnRead: true });
			const name = streamName("resumable");
			const st = b.stream(name, { forceTransport: transport });
			await rejectsWith(st.read({ start: { from: { tailOffset: 1 } }, stop: { limits: { count: 1 } } }), {
				cls: RangeNotSatisfiableError,
				status: 416,
			});
			const token = `sess-${Date.now()}`;
			const claim = await st.append(AppendInput.create([AppendRecord.fence(token)], { fencingToken: "", matchSeqNum: 0 }));
			assert.equal(claim.end.seqNum, 1);
			// A competing claim loses.
			const lost = await rejectsWith(st.append(AppendInput.create([AppendRecord.fence("other")], { fencingToken: "" })), { status: 412 });
			assert.equal(lost.expectedFencingToken, token);
			const session = await st.appendSession();
			let next = 1;
			const tickets = [];
			const chunks = [];
			for (let i = 0; i < 10; i++) {
				const recs = [AppendRecord.string({ body: `chunk-${i}` })];
				chunks.push(`chunk-${i}`);
				tickets.push(await session.submit(AppendInput.create(recs, { fencingToken: token, matchSeqNum: next })));
				next += recs.length;
			}
			tickets.push(await session.submit(AppendInput.create([AppendRecord.fence(`${token}-done`)], { fencingToken: token, matchSeqNum: next })));
			const acks = await Promise.all(tickets.map((t) => t.ack()));
			assert.equal(acks.at(-1).end.seqNum, 12);
			await session.close();
			// Replay from 0 without limits; stop at the terminal fence.
			const replay = b.stream(name, { forceTransport: transport });
			const reader = await replay.readSession({ start: { from: { seqNum: 0 } } });
			const seen = [];
			let terminal;
			const it = reader[Symbol.asyncIterator]();
			const deadline = Date.now() + 5000;
			while (Date.now() < deadline) {
				const n = await Promise.race([it.next(), sleep(5000).then(() => ({ done: true, timeout: true }))]);
				if (n.done) break;
				const r = n.value;
				if (r.headers.length === 1 && r.headers[0][0] === "" && r.headers[0][1] === "fence") {
					if (r.body === `${token}-done`) {
						terminal = r;
						break;
					}
					continue;
				}
				seen.push(r.body);
			}
			await it.return?.();
			assert.ok(terminal, "terminal fence not observed");
			assert.equal(terminal.seqNum, 11);
			assert.deepEqual(seen, chunks);
			await replay.close();
			await st.close();
		});
	});
}


