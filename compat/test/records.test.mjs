// Records through unary calls: append, read, timestamps, fencing, command
// records, 416, long poll, mixed string/bytes formats
// (API.md 7, 8, 12, 17.3 "Records").

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import {
	FencingTokenMismatchError,
	RangeNotSatisfiableError,
	SeqNumMismatchError,
} from "@s2-dev/streamstore";
import {
	AppendInput,
	AppendRecord,
	appendStrings,
	dec,
	enc,
	freshBasin,
	freshStream,
	makeClient,
	raw,
	range,
	rejectsWith,
	seqNums,
	sleep,
	streamName,
} from "./helpers.mjs";

const s2 = makeClient();
let basin;

before(async () => {
	basin = await freshBasin(s2, "records");
});

const rec = (body, extra = {}) => AppendRecord.string({ body, ...extra });
const one = (body, extra) => AppendInput.create([rec(body, extra)]);

/** Three records "first", "second", "third" with client timestamps T, T+10, T+20. */
async function threeRecords(T = Date.now() - 60_000) {
	const st = await freshStream(basin, "three");
	const ack = await st.append(
		AppendInput.create([
			rec("first", { timestamp: T }),
			rec("second", { timestamp: T + 10 }),
			rec("third", { timestamp: T + 20 }),
		]),
	);
	assert.equal(ack.end.seqNum, 3);
	return { st, T };
}

describe("records: unary append", () => {
	test("first ack is start 0 / end 1; tail follows", async () => {
		const st = await freshStream(basin);
		const ack = await st.append(one("hello"));
		assert.equal(ack.start.seqNum, 0);
		assert.equal(ack.end.seqNum, 1);
		assert.equal(ack.tail.seqNum, 1);
		assert.equal(ack.end.timestamp.getTime(), ack.start.timestamp.getTime());
	});

	test("multi-record ack spans the record count", async () => {
		const st = await freshStream(basin);
		await st.append(one("a"));
		const ack = await appendStrings(st, 3);
		assert.equal(ack.start.seqNum, 1);
		assert.equal(ack.end.seqNum, 4);
		assert.equal(ack.tail.seqNum, 4);
		assert.ok(ack.tail.seqNum >= ack.end.seqNum);
	});

	test("headers are preserved exactly (order, duplicates); empty body accepted", async () => {
		const st = await freshStream(basin);
		const headers = [
			["x-test", "value"],
			["dup", "1"],
			["dup", "2"],
			["empty-value", ""],
		];
		await st.append(AppendInput.create([rec("with headers", { headers: [["x-test", "value"]] }), rec("h", { headers }), rec("")]));
		const batch = await st.read({ start: { from: { seqNum: 0 } } });
		assert.deepEqual(seqNums(batch.records), [0, 1, 2]);
		assert.deepEqual(batch.records[0].headers, [["x-test", "value"]]);
		assert.equal(batch.records[0].body, "with headers");
		assert.deepEqual(batch.records[1].headers, headers);
		assert.equal(batch.records[2].body, "");
		assert.deepEqual(batch.records[2].headers, []);
	});

	test("match_seq_num: success when equal, 412 seq_num_mismatch otherwise", async () => {
		const st = await freshStream(basin);
		const a = await st.append(AppendInput.create([rec("a")], { matchSeqNum: 0 }));
		assert.equal(a.start.seqNum, 0);
		const b = await st.append(AppendInput.create([rec("b"), rec("c")], { matchSeqNum: 1 }));
		assert.equal(b.start.seqNum, 1);
		const err = await rejectsWith(st.append(AppendInput.create([rec("d")], { matchSeqNum: 1 })), {
			cls: SeqNumMismatchError,
			status: 412,
		});
		assert.equal(err.expectedSeqNum, 3);
		assert.match(err.message, /sequence number mismatch/);
		assert.equal((await st.checkTail()).tail.seqNum, 3, "failed append must not write");
	});

	test("raw 412 body is exactly {seq_num_mismatch: N}", async () => {
		const st = await freshStream(basin);
		await appendStrings(st, 2);
		const r = await raw("POST", `/streams/${encodeURIComponent(st.name)}/records`, {
			basin: basin.name,
			json: { records: [{ body: "x" }], match_seq_num: 5 },
		});
		assert.equal(r.status, 412, r.text);
		assert.deepEqual(r.json, { seq_num_mismatch: 2 });
	});

	test("append to a missing stream is 404 stream_not_found", async () => {
		await rejectsWith(basin.stream(streamName("missing")).append(one("x")), {
			status: 404,
			code: "stream_not_found",
		});
	});

	test("a 1000-record batch is accepted", async () => {
		const st = await freshStream(basin);
		const ack = await appendStrings(st, 1000, "k");
		assert.equal(ack.start.seqNum, 0);
		assert.equal(ack.end.seqNum, 1000);
		assert.equal((await st.checkTail()).tail.seqNum, 1000);
	});

	test("raw: 1001 records and an empty batch are 422 invalid", async () => {
		const st = await freshStream(basin);
		const path = `/streams/${encodeURIComponent(st.name)}/records`;
		const big = await raw("POST", path, {
			basin: basin.name,
			json: { records: Array.from({ length: 1001 }, () => ({ body: "x" })) },
		});
		assert.equal(big.status, 422, big.text);
		assert.equal(big.json?.code, "invalid");
		const empty = await raw("POST", path, { basin: basin.name, json: { records: [] } });
		assert.equal(empty.status, 422, empty.text);
		assert.equal(empty.json?.code, "invalid");
	});
});

describe("records: timestamps", () => {
	test("client timestamp is preserved exactly", async () => {
		const st = await freshStream(basin);
		const ts = Date.now() - 10_000;
		const ack = await st.append(one("t", { timestamp: ts }));
		assert.equal(ack.start.timestamp.getTime(), ts);
		const batch = await st.read({ start: { from: { seqNum: 0 } } });
		assert.equal(batch.records[0].timestamp.getTime(), ts);
	});

	test("client-require without a timestamp is 422; with one it succeeds", async () => {
		const st = await freshStream(basin, "req", { timestamping: { mode: "client-require" } });
		await rejectsWith(st.append(one("no ts")), { status: 422, code: "invalid" });
		const ts = Date.now() - 5000;
		const ack = await st.append(one("ts", { timestamp: ts }));
		assert.equal(ack.start.timestamp.getTime(), ts);
		assert.equal(ack.start.seqNum, 0, "rejected batch must not consume a sequence number");
	});

	test("uncapped: true preserves a timestamp 60 s in the future", async () => {
		const st = await freshStream(basin, "unc", { timestamping: { uncapped: true } });
		const ts = Date.now() + 60_000;
		const ack = await st.append(one("future", { timestamp: ts }));
		assert.equal(ack.start.timestamp.getTime(), ts);
		const batch = await st.read({ start: { from: { seqNum: 0 } } });
		assert.equal(batch.records[0].timestamp.getTime(), ts);
	});

	test("uncapped: false caps a future timestamp to arrival time", async () => {
		const st = await freshStream(basin, "cap", { timestamping: { uncapped: false } });
		const before = Date.now();
		const ack = await st.append(one("future", { timestamp: before + 60_000 }));
		const after = Date.now();
		const got = ack.start.timestamp.getTime();
		assert.ok(got >= before - 1000 && got <= after + 1000, `timestamp ${got} not within [${before}, ${after}]`);
	});

	test("an older client timestamp after a newer one is raised (monotonic)", async () => {
		const st = await freshStream(basin);
		const T = Date.now() - 1000;
		await st.append(one("newer", { timestamp: T }));
		const ack = await st.append(one("older", { timestamp: T - 5000 }));
		assert.equal(ack.start.timestamp.getTime(), T);
		const batch = await st.read({ start: { from: { seqNum: 0 } } });
		assert.deepEqual(
			batch.records.map((r) => r.timestamp.getTime()),
			[T, T],
		);
	});

	test("arrival mode ignores the client timestamp", async () => {
		const st = await freshStream(basin, "arr", { timestamping: { mode: "arrival" } });
		const before = Date.now();
		const ack = await st.append(one("x", { timestamp: 1000 }));
		assert.ok(ack.start.timestamp.getTime() >= before - 1000, `got ${ack.start.timestamp.getTime()}`);
	});

	test("records without timestamps get the arrival time", async () => {
		const st = await freshStream(basin);
		const before = Date.now();
		const ack = await st.append(one("x"));
		const after = Date.now();
		const got = ack.start.timestamp.getTime();
		assert.ok(got >= before - 1000 && got <= after + 1000, `timestamp ${got} not within [${before}, ${after}]`);
	});
});

describe("records: fencing", () => {
	test("fence, matching token, wrong token 412, no token, clearing", async () => {
		const st = await freshStream(basin);
		const fenceAck = await st.append(AppendInput.create([AppendRecord.fence("token")]));
		assert.equal(fenceAck.start.seqNum, 0);
		assert.equal(fenceAck.end.seqNum, 1, "ack for a lone fence record");
		const ok = await st.append(AppendInput.create([rec("a")], { fencingToken: "token" }));
		assert.equal(ok.start.seqNum, 1);
		const err = await rejectsWith(st.append(AppendInput.create([rec("b")], { fencingToken: "wrong" })), {
			cls: FencingTokenMismatchError,
			status: 412,
		});
		assert.equal(err.expectedFencingToken, "token");
		const noToken = await st.append(one("c"));
		assert.equal(noToken.start.seqNum, 2, "append without a token is always allowed");
		// Clear the fence.
		await st.append(AppendInput.create([AppendRecord.fence("")], { fencingToken: "token" }));
		const cleared = await st.append(AppendInput.create([rec("d")], { fencingToken: "" }));
		assert.equal(cleared.start.seqNum, 4);
		const stale = await rejectsWith(st.append(AppendInput.create([rec("e")], { fencingToken: "token" })), {
			cls: FencingTokenMismatchError,
			status: 412,
		});
		assert.equal(stale.expectedFencingToken, "");
		assert.equal((await st.checkTail()).tail.seqNum, 5);
	});

	test("a fence takes effect for later batches only", async () => {
		const st = await freshStream(basin);
		// The batch carrying the fence is checked against the old token ("").
		const ack = await st.append(AppendInput.create([AppendRecord.fence("new"), rec("x")], { fencingToken: "" }));
		assert.equal(ack.end.seqNum, 2);
		await rejectsWith(st.append(AppendInput.create([rec("y")], { fencingToken: "" })), {
			cls: FencingTokenMismatchError,
			status: 412,
		});
	});

	test("fence command record reads back as [['', 'fence']] with the token body", async () => {
		const st = await freshStream(basin);
		await st.append(AppendInput.create([AppendRecord.fence("tok-1")]));
		const batch = await st.read({ start: { from: { seqNum: 0 } } });
		assert.equal(batch.records.length, 1);
		assert.deepEqual(batch.records[0].headers, [["", "fence"]]);
		assert.equal(batch.records[0].body, "tok-1");
		const filtered = await st.read({ start: { from: { seqNum: 0 } }, ignoreCommandRecords: true });
		assert.deepEqual(filtered.records, []);
	});

	test("claim by fencing with fencing_token '' and match_seq_num 0: first writer wins", async () => {
		const st = await freshStream(basin);
		const claim = (t) => st.append(AppendInput.create([AppendRecord.fence(t)], { fencingToken: "", matchSeqNum: 0 }));
		const results = await Promise.allSettled([claim("writer-a"), claim("writer-b")]);
		const won = results.filter((r) => r.status === "fulfilled");
		const lost = results.filter((r) => r.status === "rejected");
		assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
		assert.equal(lost[0].reason.status, 412);
		// Later writers without match_seq_num get fencing_token_mismatch.
		const late = await rejectsWith(st.append(AppendInput.create([AppendRecord.fence("writer-c")], { fencingToken: "" })), {
			cls: FencingTokenMismatchError,
			status: 412,
		});
		assert.ok(["writer-a", "writer-b"].includes(late.expectedFencingToken));
	});
});

describe("records: command records", () => {
	test("single header ['', 'not-a-command'] is 422", async () => {
		const st = await freshStream(basin);
		await rejectsWith(st.append(AppendInput.create([rec("", { headers: [["", "not-a-command"]] })])), {
			status: 422,
			code: "invalid",
		});
	});

	test("headers [['', 'fence'], ['x', 'y']] is 422", async () => {
		const st = await freshStream(basin);
		await rejectsWith(
			st.append(
				AppendInput.create([
					rec("tok", {
						headers: [
							["", "fence"],
							["x", "y"],
						],
					}),
				]),
			),
			{ status: 422, code: "invalid" },
		);
		assert.equal((await st.checkTail()).tail.seqNum, 0);
	});

	test("trim(2) succeeds and trims; trim record reads back as 8-byte big-endian", async () => {
		const st = await freshStream(basin);
		await appendStrings(st, 5);
		const ack = await st.append(AppendInput.create([AppendRecord.trim(2)]));
		assert.equal(ack.start.seqNum, 5);
		assert.equal(ack.end.seqNum, 6);
		// Trimming may be asynchronous: wait up to 5 s for records 0 and 1 to go.
		let first;
		for (let i = 0; i < 50; i++) {
			const b = await st.read({ start: { from: { seqNum: 0 } } });
			first = b.records[0]?.seqNum;
			if (first === 2) break;
			await sleep(100);
		}
		assert.equal(first, 2, "read from 0 must begin at the first surviving record");
		assert.equal((await st.checkTail()).tail.seqNum, 6, "trim does not move the tail");
		const cmd = await st.read({ start: { from: { seqNum: 5 } } }, { as: "bytes" });
		assert.equal(cmd.records.length, 1);
		const [[name, value]] = cmd.records[0].headers;
		assert.equal(name.length, 0);
		assert.equal(dec.decode(value), "trim");
		assert.deepEqual([...cmd.records[0].body], [0, 0, 0, 0, 0, 0, 0, 2]);
	});

	test("trim(10) beyond the tail succeeds and trims everything up to the trim record", async () => {
		const st = await freshStream(basin);
		await appendStrings(st, 3);
		const ack = await st.append(AppendInput.create([AppendRecord.trim(10)]));
		assert.equal(ack.start.seqNum, 3);
		let n;
		for (let i = 0; i < 50; i++) {
			const b = await st.read({ start: { from: { seqNum: 0 } } });
			n = b.records.length;
			if (n === 0) break;
			await sleep(100);
		}
		assert.equal(n, 0, "all records (including the trim record) must be trimmed");
		assert.equal((await st.checkTail()).tail.seqNum, 4);
		// The stream keeps working.
		const next = await st.append(one("after"));
		assert.equal(next.start.seqNum, 4);
		const b = await st.read({ start: { from: { seqNum: 0 } } });
		assert.deepEqual(seqNums(b.records), [4]);
	});
});

describe("records: unary read", () => {
	test("from seq_num 0 returns the records in order with string bodies", async () => {
		const { st, T } = await threeRecords();
		const b = await st.read({ start: { from: { seqNum: 0 } } });
		assert.deepEqual(seqNums(b.records), [0, 1, 2]);
		assert.deepEqual(
			b.records.map((r) => r.body),
			["first", "second", "third"],
		);
		assert.deepEqual(
			b.records.map((r) => r.timestamp.getTime()),
			[T, T + 10, T + 20],
		);
		assert.equal(b.tail, undefined, "catch-up reads carry no tail");
	});

	test("count limit", async () => {
		const { st } = await threeRecords();
		const b = await st.read({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 2 } } });
		assert.deepEqual(seqNums(b.records), [0, 1]);
		const c = await st.read({ start: { from: { seqNum: 1 } }, stop: { limits: { count: 1 } } });
		assert.deepEqual(seqNums(c.records), [1]);
	});

	test("bytes limit 20 returns exactly the first record (metered 13)", async () => {
		const { st } = await threeRecords();
		const b = await st.read({ start: { from: { seqNum: 0 } }, stop: { limits: { bytes: 20 } } });
		assert.deepEqual(seqNums(b.records), [0]);
		assert.equal(b.records[0].body, "first");
		const c = await st.read({ start: { from: { seqNum: 0 } }, stop: { limits: { bytes: 27 } } });
		assert.deepEqual(seqNums(c.records), [0, 1], "13 + 14 = 27 bytes fit exactly");
		const d = await st.read({ start: { from: { seqNum: 0 } }, stop: { limits: { bytes: 12 } } });
		assert.deepEqual(d.records, [], "limit below the first record yields nothing");
	});

	test("tail_offset 2 returns the last two records; tail_offset 10 returns all from 0", async () => {
		const { st } = await threeRecords();
		const b = await st.read({ start: { from: { tailOffset: 2 } } });
		assert.deepEqual(seqNums(b.records), [1, 2]);
		const c = await st.read({ start: { from: { tailOffset: 10 } } });
		assert.deepEqual(seqNums(c.records), [0, 1, 2]);
	});

	test("start from a timestamp", async () => {
		const { st, T } = await threeRecords();
		const b = await st.read({ start: { from: { timestamp: T + 10 } } });
		assert.deepEqual(seqNums(b.records), [1, 2]);
		const c = await st.read({ start: { from: { timestamp: T + 5 } } });
		assert.deepEqual(seqNums(c.records), [1, 2]);
		const d = await st.read({ start: { from: { timestamp: new Date(T) } } });
		assert.deepEqual(seqNums(d.records), [0, 1, 2]);
	});

	test("until excludes records with timestamp >= until", async () => {
		const { st, T } = await threeRecords();
		const b = await st.read({ start: { from: { seqNum: 0 } }, stop: { untilTimestamp: T + 20 } });
		assert.deepEqual(seqNums(b.records), [0, 1]);
		const c = await st.read({ start: { from: { seqNum: 0 } }, stop: { untilTimestamp: T + 11 } });
		assert.deepEqual(seqNums(c.records), [0, 1]);
	});

	test("start timestamp >= until is 422 invalid", async () => {
		const { st, T } = await threeRecords();
		await rejectsWith(st.read({ start: { from: { timestamp: T + 20 } }, stop: { untilTimestamp: T + 10 } }), {
			status: 422,
			code: "invalid",
		});
		await rejectsWith(st.read({ start: { from: { timestamp: T + 10 } }, stop: { untilTimestamp: T + 10 } }), {
			status: 422,
			code: "invalid",
		});
	});

	test("count 0 and bytes 0 return 200 with no records", async () => {
		const { st } = await threeRecords();
		const a = await st.read({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 0 } } });
		assert.deepEqual(a.records, []);
		const b = await st.read({ start: { from: { seqNum: 0 } }, stop: { limits: { bytes: 0 } } });
		assert.deepEqual(b.records, []);
	});

	test("count 5000 over 1100 records returns exactly 1000", async () => {
		const st = await freshStream(basin);
		await appendStrings(st, 1000, "a");
		await appendStrings(st, 100, "b");
		const b = await st.read({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 5000 } } });
		assert.equal(b.records.length, 1000);
		assert.deepEqual(seqNums(b.records), range(0, 1000));
		assert.equal(b.records[999].body, "a999");
	});

	test("bytes 10_000_000 via protobuf returns at most 1 MiB (exactly 5 records of 200008 bytes)", async () => {
		const st = await freshStream(basin);
		const body = new Uint8Array(200_000).map((_, i) => i % 251);
		for (let i = 0; i < 3; i++) {
			await st.append(AppendInput.create(Array.from({ length: 4 }, () => AppendRecord.bytes({ body }))));
		}
		const b = await st.read({ start: { from: { seqNum: 0 } }, stop: { limits: { bytes: 10_000_000 } } }, { as: "bytes" });
		assert.equal(b.records.length, 5);
		assert.deepEqual(seqNums(b.records), range(0, 5));
		assert.deepEqual(b.records[4].body, body);
		const total = b.records.reduce((a, r) => a + 8 + r.body.length, 0);
		assert.ok(total <= 1024 * 1024, `metered ${total}`);
	});

	test("read of a missing stream is 404 stream_not_found", async () => {
		await rejectsWith(basin.stream(streamName("missing")).read({ start: { from: { seqNum: 0 } } }), {
			status: 404,
			code: "stream_not_found",
		});
	});
});

describe("records: 416 and long poll", () => {
	test("empty stream from seq_num 0 is 416 with tail 0", async () => {
		const st = await freshStream(basin);
		const err = await rejectsWith(st.read({ start: { from: { seqNum: 0 } } }), {
			cls: RangeNotSatisfiableError,
			status: 416,
		});
		assert.equal(err.tail?.seqNum, 0);
	});

	test("tail_offset 0 without wait is 416", async () => {
		const { st } = await threeRecords();
		const err = await rejectsWith(st.read({ start: { from: { tailOffset: 0 } } }), {
			cls: RangeNotSatisfiableError,
			status: 416,
		});
		assert.equal(err.tail?.seqNum, 3);
	});

	test("seq_num 999999 with clamp=false is 416 carrying the tail", async () => {
		const { st, T } = await threeRecords();
		const err = await rejectsWith(st.read({ start: { from: { seqNum: 999999 }, clamp: false } }), {
			cls: RangeNotSatisfiableError,
			status: 416,
		});
		assert.equal(err.tail?.seqNum, 3);
		assert.equal(err.tail?.timestamp.getTime(), T + 20);
	});

	test("seq_num 999999 with clamp=true and no wait is still 416", async () => {
		const { st } = await threeRecords();
		await rejectsWith(st.read({ start: { from: { seqNum: 999999 }, clamp: true } }), {
			cls: RangeNotSatisfiableError,
			status: 416,
		});
	});

	test("raw 416 body is {tail: {seq_num, timestamp}}", async () => {
		const { st, T } = await threeRecords();
		const r = await raw("GET", `/streams/${encodeURIComponent(st.name)}/records?seq_num=99`, { basin: basin.name });
		assert.equal(r.status, 416, r.text);
		assert.deepEqual(r.json, { tail: { seq_num: 3, timestamp: T + 20 } });
	});

	test("long poll: clamp=true + wait=1 beyond the tail returns 200 empty after ~1 s", async () => {
		const { st } = await threeRecords();
		const t0 = Date.now();
		const b = await st.read({ start: { from: { seqNum: 999999 }, clamp: true }, stop: { waitSecs: 1 } });
		const el = Date.now() - t0;
		assert.deepEqual(b.records, []);
		assert.ok(el >= 900 && el < 4000, `elapsed ${el} ms`);
	});

	test("long poll: empty stream seq_num 0 + wait=1 returns 200 empty after ~1 s", async () => {
		const st = await freshStream(basin);
		const t0 = Date.now();
		const b = await st.read({ start: { from: { seqNum: 0 } }, stop: { waitSecs: 1 } });
		const el = Date.now() - t0;
		assert.deepEqual(b.records, []);
		assert.ok(el >= 900 && el < 4000, `elapsed ${el} ms`);
	});

	test("long poll returns a record appended during the wait, with tail", async () => {
		const { st } = await threeRecords();
		const t0 = Date.now();
		const pending = st.read({ start: { from: { seqNum: 3 } }, stop: { waitSecs: 10 } });
		await sleep(300);
		await st.append(one("live"));
		const b = await pending;
		const el = Date.now() - t0;
		assert.deepEqual(seqNums(b.records), [3]);
		assert.equal(b.records[0].body, "live");
		assert.ok(el < 3000, `long poll took ${el} ms to deliver`);
		assert.equal(b.tail?.seqNum, 4, "records obtained by following carry the tail");
	});
});

describe("records: mixed string and bytes formats (unary)", () => {
	test("a mixed batch (unary protobuf append) reads back identically as strings and as bytes", async () => {
		const st = await freshStream(basin);
		const records = [
			AppendRecord.string({ body: "s0", headers: [["k-str", "v-str"]] }),
			AppendRecord.bytes({ body: enc.encode("b1 ✓"), headers: [[enc.encode("k-bin"), enc.encode("v-bin")]] }),
			AppendRecord.string({ body: "s2 日本" }),
			AppendRecord.bytes({ body: enc.encode(""), headers: [["mixed", enc.encode("x")]] }),
		];
		const ack = await st.append(AppendInput.create(records));
		assert.equal(ack.end.seqNum, 4);
		const s = await st.read({ start: { from: { seqNum: 0 } } });
		assert.deepEqual(
			s.records.map((r) => [r.body, r.headers]),
			[
				["s0", [["k-str", "v-str"]]],
				["b1 ✓", [["k-bin", "v-bin"]]],
				["s2 日本", []],
				["", [["mixed", "x"]]],
			],
		);
		const b = await st.read({ start: { from: { seqNum: 0 } } }, { as: "bytes" });
		assert.deepEqual(
			b.records.map((r) => [dec.decode(r.body), r.headers.map(([k, v]) => [dec.decode(k), dec.decode(v)])]),
			[
				["s0", [["k-str", "v-str"]]],
				["b1 ✓", [["k-bin", "v-bin"]]],
				["s2 日本", []],
				["", [["mixed", "x"]]],
			],
		);
	});

	test("arbitrary binary bodies and headers round-trip through protobuf", async () => {
		const st = await freshStream(basin);
		const body = Uint8Array.from({ length: 256 }, (_, i) => i);
		const hk = Uint8Array.from([0xff, 0x00, 0xfe]);
		const hv = Uint8Array.from([0x80, 0x81]);
		await st.append(AppendInput.create([AppendRecord.bytes({ body, headers: [[hk, hv]] })]));
		const b = await st.read({ start: { from: { seqNum: 0 } } }, { as: "bytes" });
		assert.deepEqual(b.records[0].body, body);
		assert.deepEqual(b.records[0].headers, [[hk, hv]]);
	});

	test("raw JSON read honours s2-format base64", async () => {
		const st = await freshStream(basin);
		await st.append(AppendInput.create([AppendRecord.bytes({ body: Uint8Array.from([0, 1, 255]), headers: [["h", "v"]] })]));
		const r = await raw("GET", `/streams/${encodeURIComponent(st.name)}/records?seq_num=0`, {
			basin: basin.name,
			headers: { "s2-format": "base64" },
		});
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.records[0].body, "AAH/");
		assert.deepEqual(r.json.records[0].headers, [["aA==", "dg=="]]);
	});
});

describe("records: resumable-stream probes", () => {
	test("unary read tail_offset=1&count=1 on an auto-created empty stream is 416", async () => {
		const b = await freshBasin(s2, "rsm", { createStreamOnAppend: true, createStreamOnRead: true });
		const st = b.stream(streamName("probe"));
		await rejectsWith(st.read({ start: { from: { tailOffset: 1 } }, stop: { limits: { count: 1 } } }), {
			cls: RangeNotSatisfiableError,
			status: 416,
		});
		assert.equal((await st.checkTail()).tail.seqNum, 0);
	});
});

describe("records: optional features", () => {
	test("stream encryption: either rejected at basin creation (4xx) or a full round trip", async () => {
		const name = `c-enc-${Date.now().toString(36)}-${Math.random().toString(16).slice(2, 8)}`;
		let created = true;
		try {
			await s2.basins.create({ basin: name, config: { streamCipher: "aegis-256" } });
		} catch (e) {
			created = false;
			assert.ok(e.status >= 400 && e.status < 500, `unsupported cipher must be a client error, got ${e.status} ${e.code}`);
			assert.equal(e.code, "invalid");
		}
		if (!created) return;
		const b = s2.basin(name);
		const sname = streamName("enc");
		const info = await b.streams.create({ stream: sname });
		assert.equal(info.cipher, "aegis-256");
		const key = new Uint8Array(32).fill(7);
		const st = b.stream(sname, { encryptionKey: key });
		await st.append(AppendInput.create([rec("secret")]));
		const got = await st.read({ start: { from: { seqNum: 0 } } });
		assert.equal(got.records[0].body, "secret");
		await rejectsWith(b.stream(sname).read({ start: { from: { seqNum: 0 } } }), { status: 400, code: "bad_header" });
	});

	// Beyond API.md: SDK 0.27 sends the requested config of an auto-created
	// stream in an `s2-stream-config` header (JSON StreamConfig) on appends,
	// reads and session connects; it is ignored when the stream exists.
	test("[beyond-spec] s2-stream-config header applies to streams auto-created by append and read", async () => {
		const b = await freshBasin(s2, "scfg", {
			createStreamOnAppend: true,
			createStreamOnRead: true,
			defaultStreamConfig: { retentionPolicy: { ageSecs: 3600 } },
		});
		const onAppend = streamName("a");
		await b.stream(onAppend).append(
			AppendInput.create([rec("x")], { streamConfig: { storageClass: "standard", retentionPolicy: { ageSecs: 120 } } }),
		);
		const ca = await b.streams.getConfig({ stream: onAppend });
		assert.equal(ca.storageClass, "standard");
		assert.deepEqual(ca.retentionPolicy, { ageSecs: 120 });
		const onRead = streamName("r");
		await rejectsWith(
			b.stream(onRead).read({ start: { from: { seqNum: 0 } }, streamConfig: { timestamping: { mode: "arrival" } } }),
			{ status: 416 },
		);
		const cr = await b.streams.getConfig({ stream: onRead });
		assert.equal(cr.timestamping.mode, "arrival");
		assert.deepEqual(cr.retentionPolicy, { ageSecs: 3600 }, "unset fields inherit the basin default");
		// Ignored when the stream already exists.
		await b.stream(onAppend).append(AppendInput.create([rec("y")], { streamConfig: { storageClass: "express" } }));
		assert.equal((await b.streams.getConfig({ stream: onAppend })).storageClass, "standard");
	});
});
