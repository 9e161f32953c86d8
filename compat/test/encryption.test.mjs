// Encryption at rest through the SDK's encryption-key option (API.md 7.9,
// beyond API.md 17: the SDK's own e2e suite does not exercise it).
//
// A basin's stream_cipher ("aegis-256" | "aes-256-gcm") is copied into the
// streams created afterwards; appends and reads on such a stream must carry
// `s2-encryption-key`, which the SDK sends when a stream handle is made with
// `basin.stream(name, { encryptionKey })` or `stream.withEncryptionKey(key)`
// (unary requests and both session transports). A key that does not open
// the stored records is 400 `decryption_failed`; a missing key is 400
// `bad_header`; a stream without a cipher ignores the header; check-tail
// never needs one.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { before, describe, test } from "node:test";
import { EncryptionKey, EncryptionKeyLengthError } from "@s2-dev/streamstore";
import {
	AppendInput,
	AppendRecord,
	appendStrings,
	dec,
	drain,
	enc,
	freshBasin,
	makeClient,
	range,
	raw,
	rejectsWith,
	seqNums,
	sleep,
	streamName,
	take,
	TRANSPORTS,
} from "./helpers.mjs";

const CIPHERS = ["aegis-256", "aes-256-gcm"];

/** A fresh 32-byte key, as base64 (the header form). */
function newKey() {
	return randomBytes(32).toString("base64");
}

/** Error of a read session: thrown at open or by its iterator. */
async function readSessionError(stream, args, timeoutMs = 5000) {
	try {
		const session = await stream.readSession(args);
		const out = await drain(session, { timeoutMs });
		return { err: out.error, records: out.records, timedOut: out.timedOut };
	} catch (e) {
		return { err: e, records: [] };
	}
}

/**
 * A decryption failure inside a read session. Over S2S it is the terminal
 * frame's status and code. Over SSE the server has already answered 200 and
 * sends an `error` event whose data is {"code":"decryption_failed",...}; SDK
 * 0.27.0 turns every SSE error event into a retryable S2Error with status 503
 * and the event's data as its message (see KNOWN_FAILURES.md), so for
 * "fetch" the code is taken from that message.
 */
function assertSessionDecryptionFailed(transport, err) {
	if (transport === "s2s") {
		assertS2Error(err, 400, "decryption_failed");
		return;
	}
	assert.ok(err, "expected a decryption_failed error event, got no error");
	assert.equal(err.status, 503, `SDK status for an SSE error event: ${err.status} ${err.message}`);
	let data;
	try {
		data = JSON.parse(err.message);
	} catch {
		assert.fail(`SSE error event data is not JSON: ${err.message}`);
	}
	assert.deepEqual(data, { code: "decryption_failed", message: "record decryption failed" });
}

function assertS2Error(err, status, code, note = "") {
	const summary = `${err?.constructor?.name} status=${err?.status} code=${err?.code} message=${err?.message}`;
	assert.ok(err, `expected ${status} ${code} ${note}, got no error`);
	assert.equal(err.status, status, `expected status ${status}, got ${summary} ${note}`);
	assert.equal(err.code, code, `expected code ${code}, got ${summary} ${note}`);
}

describe("encryption: basins and streams", () => {
	const s2 = makeClient();

	for (const cipher of CIPHERS) {
		test(`[${cipher}] basin stream_cipher round-trips; created, ensured and auto-created streams report it`, async () => {
			const basin = await freshBasin(s2, "enc", { streamCipher: cipher, createStreamOnAppend: true, createStreamOnRead: true });
			const cfg = await s2.basins.getConfig({ basin: basin.name });
			assert.equal(cfg.streamCipher, cipher);

			const created = streamName("c");
			const info = await basin.streams.create({ stream: created });
			assert.equal(info.cipher, cipher, `create response ${JSON.stringify(info)}`);

			const ensured = streamName("e");
			const ens = await basin.streams.ensure({ stream: ensured });
			assert.equal(ens.cipher ?? ens.info?.cipher ?? ens.stream?.cipher, cipher, `ensure response ${JSON.stringify(ens)}`);

			// Auto-created by an append carrying the key, and by a read.
			const key = newKey();
			const autoA = basin.stream(streamName("aa"), { encryptionKey: key });
			const ack = await autoA.append(AppendInput.create([AppendRecord.string({ body: "first" })]));
			assert.equal(ack.end.seqNum, 1);
			const autoR = basin.stream(streamName("ar"), { encryptionKey: key });
			assert.equal((await autoR.checkTail()).tail.seqNum, 0);

			const list = await basin.streams.list();
			const ciphers = Object.fromEntries(list.streams.map((s) => [s.name, s.cipher]));
			assert.deepEqual(ciphers, {
				[created]: cipher,
				[ensured]: cipher,
				[autoA.name]: cipher,
				[autoR.name]: cipher,
			});

			// Raw wire form: StreamInfo.cipher.
			const r = await raw("GET", `/streams?prefix=${autoA.name}`, { basin: basin.name });
			assert.equal(r.status, 200);
			assert.equal(r.json.streams[0].cipher, cipher);

			// The stream's cipher survives a change of the basin's.
			const other = CIPHERS.find((c) => c !== cipher);
			await s2.basins.reconfigure({ basin: basin.name, streamCipher: other });
			const later = streamName("l");
			assert.equal((await basin.streams.create({ stream: later })).cipher, other);
			const after = Object.fromEntries((await basin.streams.list()).streams.map((s) => [s.name, s.cipher]));
			assert.equal(after[created], cipher);
			assert.equal(after[later], other);
			await autoA.close();
			await autoR.close();
		});
	}

	test("a basin without stream_cipher makes streams without one", async () => {
		const basin = await freshBasin(s2, "noenc");
		const cfg = await s2.basins.getConfig({ basin: basin.name });
		assert.ok(cfg.streamCipher == null, `streamCipher ${cfg.streamCipher}`);
		const info = await basin.streams.create({ stream: streamName() });
		assert.ok(info.cipher == null, `cipher ${info.cipher}`);
	});

	test("[beyond-spec] the SDK refuses an over-long key before sending it", () => {
		assert.throws(() => EncryptionKey.from("A".repeat(45)), EncryptionKeyLengthError);
		assert.equal(EncryptionKey.from(new Uint8Array(32)), Buffer.alloc(32).toString("base64"));
	});
});

for (const cipher of CIPHERS) {
	describe(`encryption [${cipher}]: unary append and read`, () => {
		const s2 = makeClient();
		let basin;
		const newStream = async (key, tag = "u") => {
			const name = streamName(tag);
			await basin.streams.create({ stream: name });
			return basin.stream(name, key === undefined ? {} : { encryptionKey: key });
		};

		before(async () => {
			basin = await freshBasin(s2, `eu-${cipher.slice(0, 3)}`, { streamCipher: cipher });
		});

		test(`[${cipher}] append and read round-trip strings, bytes and headers with the key`, async () => {
			const key = newKey();
			const st = await newStream(key);
			const bin = randomBytes(300);
			const ack = await st.append(
				AppendInput.create([
					AppendRecord.string({ body: "hello" }),
					AppendRecord.string({ body: "with headers", headers: [["k", "v"], ["x", ""]] }),
					AppendRecord.bytes({ body: bin, headers: [[enc.encode("bin"), new Uint8Array([0, 1, 2])]] }),
					AppendRecord.string({ body: "" }),
				]),
			);
			assert.equal(ack.start.seqNum, 0);
			assert.equal(ack.end.seqNum, 4);
			const r = await st.read({ start: { from: { seqNum: 0 } } }, { as: "bytes" });
			assert.deepEqual(seqNums(r.records), range(0, 4));
			assert.equal(dec.decode(r.records[0].body), "hello");
			assert.deepEqual(
				r.records[1].headers.map(([k, v]) => [dec.decode(k), dec.decode(v)]),
				[["k", "v"], ["x", ""]],
			);
			assert.deepEqual(Buffer.from(r.records[2].body), bin);
			assert.deepEqual(Buffer.from(r.records[2].headers[0][1]), Buffer.from([0, 1, 2]));
			assert.equal(r.records[3].body.length, 0);
			assert.equal(r.records[0].timestamp.getTime(), ack.start.timestamp.getTime());
			// The same key given as raw bytes, through withEncryptionKey.
			const again = basin.stream(st.name).withEncryptionKey(Buffer.from(key, "base64"));
			const s = await again.read({ start: { from: { seqNum: 1 } }, stop: { limits: { count: 1 } } });
			assert.equal(s.records[0].body, "with headers");
			await st.close();
			await again.close();
		});

		test(`[${cipher}] read positions, limits and tail_offset work on sealed records`, async () => {
			const key = newKey();
			const st = await newStream(key);
			for (let b = 0; b < 5; b++) await appendStrings(st, 10, `b${b}-`);
			const r = await st.read({ start: { from: { seqNum: 17 } }, stop: { limits: { count: 5 } } });
			assert.deepEqual(seqNums(r.records), range(17, 22));
			assert.equal(r.records[0].body, "b1-7");
			const t = await st.read({ start: { from: { tailOffset: 3 } } });
			assert.deepEqual(
				t.records.map((x) => x.body),
				["b4-7", "b4-8", "b4-9"],
			);
			const ts = r.records[0].timestamp.getTime();
			const byTs = await st.read({ start: { from: { timestamp: ts } }, stop: { limits: { count: 1 } } });
			assert.ok(byTs.records[0].seqNum <= 17);
			await st.close();
		});

		test(`[${cipher}] a wrong key is 400 decryption_failed; the records stay readable with the right one`, async () => {
			const key = newKey();
			const st = await newStream(key);
			await appendStrings(st, 3);
			const wrong = basin.stream(st.name, { encryptionKey: newKey() });
			const err = await rejectsWith(wrong.read({ start: { from: { seqNum: 0 } } }), {
				status: 400,
				code: "decryption_failed",
			});
			assert.match(err.message, /record decryption failed/);
			const r = await raw("GET", `/streams/${st.name}/records?seq_num=0`, {
				basin: basin.name,
				headers: { "s2-encryption-key": newKey() },
			});
			assert.equal(r.status, 400);
			assert.equal(r.json?.code, "decryption_failed", r.text);
			// The right key still reads everything.
			const ok = await st.read({ start: { from: { seqNum: 0 } } });
			assert.deepEqual(ok.records.map((x) => x.body), ["r0", "r1", "r2"]);
			await st.close();
			await wrong.close();
		});

		test(`[${cipher}] SSE wire: a wrong key gets 200, then one error event decryption_failed and no batch`, async () => {
			const key = newKey();
			const st = await newStream(key);
			await appendStrings(st, 2);
			const r = await raw("GET", `/streams/${st.name}/records?seq_num=0&count=2`, {
				basin: basin.name,
				headers: { accept: "text/event-stream", "s2-encryption-key": newKey() },
			});
			assert.equal(r.status, 200);
			assert.match(r.headers.get("content-type") ?? "", /^text\/event-stream/);
			assert.doesNotMatch(r.text, /event: batch/);
			assert.match(r.text, /event: error\ndata: \{"code":"decryption_failed","message":"record decryption failed"\}\n\n/);
			const ok = await raw("GET", `/streams/${st.name}/records?seq_num=0&count=2`, {
				basin: basin.name,
				headers: { accept: "text/event-stream", "s2-encryption-key": key },
			});
			assert.equal(ok.status, 200);
			assert.match(ok.text, /event: batch/);
			assert.match(ok.text, /"body":"r1"/);
			await st.close();
		});

		test(`[${cipher}] the key is not checked at append: records sealed under two keys, each opens only its own`, async () => {
			const keyA = newKey();
			const keyB = newKey();
			const a = await newStream(keyA);
			const b = basin.stream(a.name, { encryptionKey: keyB });
			await appendStrings(a, 2, "a");
			await appendStrings(b, 2, "b");
			const ra = await a.read({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 2 } } });
			assert.deepEqual(ra.records.map((x) => x.body), ["a0", "a1"]);
			const rb = await b.read({ start: { from: { seqNum: 2 } } });
			assert.deepEqual(rb.records.map((x) => x.body), ["b0", "b1"]);
			await rejectsWith(a.read({ start: { from: { seqNum: 0 } } }), { status: 400, code: "decryption_failed" });
			await rejectsWith(b.read({ start: { from: { seqNum: 0 } } }), { status: 400, code: "decryption_failed" });
			await a.close();
			await b.close();
		});

		test(`[${cipher}] a missing key is 400 bad_header on append and read; check-tail needs none`, async () => {
			const key = newKey();
			const keyed = await newStream(key);
			await appendStrings(keyed, 2);
			const bare = basin.stream(keyed.name);
			const e1 = await rejectsWith(bare.append(AppendInput.create([AppendRecord.string({ body: "x" })])), {
				status: 400,
				code: "bad_header",
			});
			assert.match(e1.message, new RegExp(`missing encryption key for stream cipher '${cipher}'`));
			const e2 = await rejectsWith(bare.read({ start: { from: { seqNum: 0 } } }), { status: 400, code: "bad_header" });
			assert.match(e2.message, /missing encryption key/);
			const tail = await bare.checkTail();
			assert.equal(tail.tail.seqNum, 2);
			// A key that is not 32 bytes of base64 is refused the same way.
			const short = basin.stream(keyed.name, { encryptionKey: randomBytes(16) });
			const e3 = await rejectsWith(short.read({ start: { from: { seqNum: 0 } } }), { status: 400, code: "bad_header" });
			assert.match(e3.message, /invalid encryption key length/);
			const notB64 = basin.stream(keyed.name, { encryptionKey: "!!!!" });
			await rejectsWith(notB64.append(AppendInput.create([AppendRecord.string({ body: "x" })])), {
				status: 400,
				code: "bad_header",
			});
			// Nothing was appended by the refused requests.
			assert.equal((await keyed.checkTail()).tail.seqNum, 2);
			for (const s of [keyed, bare, short, notB64]) await s.close();
		});

		test(`[${cipher}] command records stay usable: fence and trim on an encrypted stream`, async () => {
			const key = newKey();
			const st = await newStream(key);
			await appendStrings(st, 3);
			await st.append(AppendInput.create([AppendRecord.fence("tok")], { fencingToken: "" }));
			await st.append(AppendInput.create([AppendRecord.string({ body: "fenced" })], { fencingToken: "tok" }));
			await st.append(AppendInput.create([AppendRecord.trim(2)], { fencingToken: "tok" }));
			const r = await st.read({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 10 } } });
			const bodies = r.records.map((x) => x.body);
			assert.ok(bodies.includes("fenced"), JSON.stringify(bodies));
			assert.equal(r.records[r.records.length - 1].seqNum, 5);
			await st.close();
		});
	});
}

describe("encryption: streams without a cipher ignore the header", () => {
	const s2 = makeClient();
	test("a plain stream accepts any key or none, and stores nothing that needs one", async () => {
		const basin = await freshBasin(s2, "plain");
		const name = streamName("p");
		await basin.streams.create({ stream: name });
		const withKey = basin.stream(name, { encryptionKey: newKey() });
		await appendStrings(withKey, 2, "k");
		const bare = basin.stream(name);
		await appendStrings(bare, 1, "n");
		const other = basin.stream(name, { encryptionKey: newKey() });
		for (const st of [bare, withKey, other]) {
			const r = await st.read({ start: { from: { seqNum: 0 } } });
			assert.deepEqual(r.records.map((x) => x.body), ["k0", "k1", "n0"]);
		}
		// Even a key of the wrong length is ignored (only its header length is checked).
		const short = basin.stream(name, { encryptionKey: randomBytes(16) });
		assert.equal((await short.read({ start: { from: { seqNum: 2 } } })).records[0].body, "n0");
		for (const t of TRANSPORTS) {
			const st = basin.stream(name, { encryptionKey: newKey(), forceTransport: t });
			const session = await st.readSession({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 3 } } });
			const { records, error } = await drain(session, { timeoutMs: 5000 });
			assert.equal(error, undefined, String(error));
			assert.deepEqual(records.map((x) => x.body), ["k0", "k1", "n0"], t);
			await st.close();
		}
		for (const s of [withKey, bare, other, short]) await s.close();
	});
});

for (const cipher of CIPHERS) {
	for (const transport of TRANSPORTS) {
		describe(`encryption [${cipher}] [${transport}]: sessions`, () => {
			const s2 = makeClient();
			let basin;
			const newStream = async (key, tag = "s") => {
				const name = streamName(tag);
				await basin.streams.create({ stream: name });
				return basin.stream(name, { forceTransport: transport, ...(key === undefined ? {} : { encryptionKey: key }) });
			};

			before(async () => {
				basin = await freshBasin(s2, `es-${cipher.slice(0, 3)}-${transport}`, { streamCipher: cipher });
			});

			test(`[${cipher}] [${transport}] append session: pipelined batches acked in order, read back by a read session`, async () => {
				const key = newKey();
				const st = await newStream(key);
				const session = await st.appendSession();
				const N = 12;
				const tickets = [];
				for (let i = 0; i < N; i++) {
					tickets.push(
						await session.submit(
							AppendInput.create([
								AppendRecord.string({ body: `b${i}-0`, headers: [["i", String(i)]] }),
								AppendRecord.bytes({ body: enc.encode(`b${i}-1`) }),
							]),
						),
					);
				}
				const acks = await Promise.all(tickets.map((t) => t.ack()));
				assert.deepEqual(
					acks.map((a) => [a.start.seqNum, a.end.seqNum]),
					range(0, N).map((i) => [2 * i, 2 * i + 2]),
				);
				await session.close();
				const rs = await st.readSession({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 2 * N } } });
				const { records, error, timedOut } = await drain(rs, { timeoutMs: 10000 });
				assert.equal(error, undefined, String(error));
				assert.equal(timedOut, false);
				assert.deepEqual(seqNums(records), range(0, 2 * N));
				for (let i = 0; i < N; i++) {
					assert.equal(records[2 * i].body, `b${i}-0`);
					assert.deepEqual(records[2 * i].headers, [["i", String(i)]]);
					assert.equal(records[2 * i + 1].body, `b${i}-1`);
				}
				// And by a unary read.
				const u = await st.read({ start: { from: { seqNum: 2 * N - 1 } } });
				assert.equal(u.records[0].body, `b${N - 1}-1`);
				await st.close();
			});

			test(`[${cipher}] [${transport}] read session follows live appends made with the key`, async () => {
				const key = newKey();
				const st = await newStream(key);
				await appendStrings(st, 3, "old");
				const rs = await st.readSession({ start: { from: { seqNum: 0 } } });
				const it = rs[Symbol.asyncIterator]();
				const first = await take({ [Symbol.asyncIterator]: () => it }, 3, { timeoutMs: 5000 });
				assert.deepEqual(first.records.map((r) => r.body), ["old0", "old1", "old2"]);
				const w = basin.stream(st.name, { forceTransport: transport, encryptionKey: key });
				const as = await w.appendSession();
				for (let i = 0; i < 5; i++) {
					await as.submit(AppendInput.create([AppendRecord.string({ body: `live${i}` })]));
					await sleep(20);
				}
				const live = await take({ [Symbol.asyncIterator]: () => it }, 5, { timeoutMs: 10000 });
				assert.deepEqual(live.records.map((r) => r.body), range(0, 5).map((i) => `live${i}`));
				assert.deepEqual(seqNums(live.records), range(3, 8));
				await as.close();
				await it.return?.();
				await st.close();
				await w.close();
			});

			test(`[${cipher}] [${transport}] read session with a wrong key fails with decryption_failed`, async () => {
				const key = newKey();
				const st = await newStream(key);
				await appendStrings(st, 4);
				const wrong = basin.stream(st.name, { forceTransport: transport, encryptionKey: newKey() });
				const { err, records } = await readSessionError(wrong, { start: { from: { seqNum: 0 } }, stop: { limits: { count: 4 } } });
				assertSessionDecryptionFailed(transport, err);
				assert.deepEqual(records, [], "no record may be delivered under a wrong key");
				await st.close();
				await wrong.close();
			});

			test(`[${cipher}] [${transport}] a live follower with a wrong key fails when sealed records arrive; one with the right key reads them`, async () => {
				const key = newKey();
				const st = await newStream(key);
				const good = await st.readSession({ start: { from: { seqNum: 0 } } });
				const wrong = basin.stream(st.name, { forceTransport: transport, encryptionKey: newKey() });
				const bad = await wrong.readSession({ start: { from: { seqNum: 0 } } });
				const badOut = drain(bad, { timeoutMs: 10000 });
				await sleep(200);
				await appendStrings(st, 2, "z");
				const { records, iterator: goodIt } = await take(good, 2, { timeoutMs: 5000 });
				assert.deepEqual(records.map((r) => r.body), ["z0", "z1"]);
				const { error, records: leaked, timedOut } = await badOut;
				assert.equal(timedOut, false, "the wrong-key follower should have failed");
				assertSessionDecryptionFailed(transport, error);
				assert.deepEqual(leaked, []);
				await goodIt.return?.();
				await st.close();
				await wrong.close();
			});

			test(`[${cipher}] [${transport}] sessions without a key are refused with 400 bad_header`, async () => {
				const key = newKey();
				const keyed = await newStream(key);
				await appendStrings(keyed, 1);
				const bare = basin.stream(keyed.name, { forceTransport: transport });
				const { err } = await readSessionError(bare, { start: { from: { seqNum: 0 } } });
				assertS2Error(err, 400, "bad_header", "read session");
				assert.match(err.message, /missing encryption key/);
				let appendErr;
				try {
					const session = await bare.appendSession();
					const t = await session.submit(AppendInput.create([AppendRecord.string({ body: "x" })]));
					await t.ack();
				} catch (e) {
					appendErr = e;
				}
				assertS2Error(appendErr, 400, "bad_header", "append session");
				assert.equal((await keyed.checkTail()).tail.seqNum, 1);
				await keyed.close();
				await bare.close();
			});
		});
	}
}
