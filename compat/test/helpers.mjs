// Shared helpers for the compatibility suite.
//
// Every test talks to the server named by S2_ACCOUNT_ENDPOINT /
// S2_BASIN_ENDPOINT through the official SDK. A few assertions also look at
// the raw HTTP exchange (status, headers) with Node's fetch, because those
// details are what the SDK depends on.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
	AppendInput,
	AppendRecord,
	S2,
	S2Environment,
	S2Error,
} from "@s2-dev/streamstore";

export const ENDPOINT = process.env.S2_ACCOUNT_ENDPOINT;
if (!ENDPOINT || !process.env.S2_BASIN_ENDPOINT) {
	throw new Error(
		"S2_ACCOUNT_ENDPOINT and S2_BASIN_ENDPOINT must point at a running s2lite (see compat/run.sh)",
	);
}

/** Both session transports, as the SDK's e2e suites run them. */
export const TRANSPORTS = ["fetch", "s2s"];

/**
 * SDK client pointed at the server by the environment, exactly as the SDK
 * docs describe. Retries are disabled (maxAttempts: 1) so that a transient
 * server error, a missing heartbeat or a dropped session surfaces as a test
 * failure instead of being papered over by a silent reconnect.
 */
export function makeClient(extra = {}) {
	return new S2({
		...S2Environment.parse(),
		accessToken: process.env.S2_ACCESS_TOKEN ?? "test",
		retry: { maxAttempts: 1 },
		...extra,
	});
}

export function rand(n = 6) {
	return randomBytes(n).toString("hex").slice(0, n);
}

/** A fresh valid basin name (8..48 chars) with the given short tag. */
export function basinName(tag) {
	const name = `c-${tag}-${Date.now().toString(36)}-${rand(6)}`;
	assert.ok(name.length >= 8 && name.length <= 48, `bad basin name ${name}`);
	return name;
}

export function streamName(tag = "s") {
	return `${tag}-${rand(8)}`;
}

/** Create a fresh basin (optionally with config) and return its SDK handle. */
export async function freshBasin(s2, tag, config) {
	const name = basinName(tag);
	await s2.basins.create(config ? { basin: name, config } : { basin: name });
	return s2.basin(name);
}

/** Create a fresh stream in `basin` and return its SDK handle. */
export async function freshStream(basin, tag = "s", config, options) {
	const name = streamName(tag);
	await basin.streams.create(config ? { stream: name, config } : { stream: name });
	return basin.stream(name, options);
}

/** Assert that `promise` rejects with an S2Error having the given fields. */
export async function rejectsWith(promise, expected, note = "") {
	let err;
	try {
		await promise;
	} catch (e) {
		err = e;
	}
	assert.ok(err, `expected rejection ${JSON.stringify(expected)} ${note}, but the call succeeded`);
	const summary = `${err?.constructor?.name} status=${err?.status} code=${err?.code} message=${err?.message}`;
	if (expected.cls) {
		assert.ok(err instanceof expected.cls, `expected ${expected.cls.name}, got ${summary} ${note}`);
	} else {
		assert.ok(err instanceof S2Error, `expected S2Error, got ${summary} ${note}`);
	}
	if (expected.status !== undefined) {
		const ok = Array.isArray(expected.status)
			? expected.status.includes(err.status)
			: err.status === expected.status;
		assert.ok(ok, `expected status ${expected.status}, got ${summary} ${note}`);
	}
	if (expected.code !== undefined) {
		assert.equal(err.code, expected.code, `expected code ${expected.code}, got ${summary} ${note}`);
	}
	return err;
}

/** Raw HTTP request to the server (for wire-level assertions). */
export async function raw(method, path, { basin, headers = {}, body, json } = {}) {
	const h = { authorization: `Bearer ${process.env.S2_ACCESS_TOKEN ?? "test"}`, ...headers };
	if (basin) h["s2-basin"] = basin;
	let payload = body;
	if (json !== undefined) {
		h["content-type"] = "application/json";
		payload = JSON.stringify(json);
	}
	const res = await fetch(new URL(`/v1${path}`, ENDPOINT), {
		method,
		headers: h,
		body: payload,
	});
	const buf = Buffer.from(await res.arrayBuffer());
	const text = buf.toString("utf8");
	let parsed;
	try {
		parsed = text.length ? JSON.parse(text) : undefined;
	} catch {
		parsed = undefined;
	}
	return { status: res.status, headers: res.headers, text, json: parsed, bytes: buf };
}

export const enc = new TextEncoder();
export const dec = new TextDecoder();

export function str(n, prefix = "r") {
	return Array.from({ length: n }, (_, i) => AppendRecord.string({ body: `${prefix}${i}` }));
}

/** Append `n` string records body `${prefix}${i}` in one unary batch. */
export async function appendStrings(stream, n, prefix = "r") {
	return stream.append(AppendInput.create(str(n, prefix)));
}

export function sleep(ms) {
	return new Promise((r) => setTimeout(r, ms));
}

/** Collect records from an SDK read session until `n` are seen or it ends. */
export async function take(session, n, { timeoutMs = 15000 } = {}) {
	const out = [];
	const it = session[Symbol.asyncIterator]();
	const deadline = Date.now() + timeoutMs;
	while (out.length < n) {
		const remaining = deadline - Date.now();
		if (remaining <= 0) break;
		let timer;
		const next = await Promise.race([
			it.next(),
			new Promise((r) => {
				timer = setTimeout(() => r({ timeout: true }), remaining);
			}),
		]);
		clearTimeout(timer);
		if (next.timeout || next.done) break;
		out.push(next.value);
	}
	return { records: out, iterator: it };
}

/** Drain a read session to its end, with a hard timeout. */
export async function drain(session, { timeoutMs = 20000 } = {}) {
	const out = [];
	let error;
	const work = (async () => {
		try {
			for await (const r of session) out.push(r);
		} catch (e) {
			error = e;
		}
	})();
	let timer;
	const timedOut = await Promise.race([
		work.then(() => false),
		new Promise((r) => {
			timer = setTimeout(() => r(true), timeoutMs);
		}),
	]);
	clearTimeout(timer);
	if (timedOut) {
		try {
			await session.cancel();
		} catch {}
	}
	return { records: out, error, timedOut };
}

export function seqNums(records) {
	return records.map((r) => r.seqNum);
}

export function range(a, b) {
	return Array.from({ length: b - a }, (_, i) => a + i);
}

export function metered(record) {
	// 8 + 2*headers + sum(name+value) + body, in bytes (spec 2.5).
	const len = (x) => (typeof x === "string" ? enc.encode(x).length : x.length);
	const hs = record.headers ?? [];
	return 8 + 2 * hs.length + hs.reduce((a, [k, v]) => a + len(k) + len(v), 0) + len(record.body ?? "");
}

export { AppendInput, AppendRecord, S2Error };
