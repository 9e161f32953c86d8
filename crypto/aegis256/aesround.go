package aegis256

// Portable, table-free AES round function.
//
// SubBytes is computed in bitsliced form: the bytes to transform are spread
// over eight bit planes (plane i holds bit i of every byte, one byte per bit
// position), the multiplicative inverse in GF(2^8) is computed as x^254 with
// bitsliced field multiplications, and the AES affine map is applied to the
// planes. Nothing indexes memory or branches on secret data, so the running
// time does not depend on the state, the key or the message.
//
// ShiftRows, MixColumns and AddRoundKey are computed on 32-bit columns with
// shifts, masks and XORs only.

// lowBits has the least significant bit of every byte set.
const lowBits = 0x0101010101010101

// planes holds up to 64 bytes in bitsliced form: bit j of planes[i] is bit i
// of the byte in lane j.
type planes [8]uint64

// toPlanes spreads the bytes of w (8 bytes per word, little-endian, at most
// 8 words) over bit planes: bit b of byte k of w[i] goes to bit 8*k+i of
// plane b.
func toPlanes(w []uint64) (p planes) {
	for i, v := range w {
		for b := range p {
			p[b] |= ((v >> b) & lowBits) << i
		}
	}
	return p
}

// fromPlanes is the inverse of toPlanes.
func fromPlanes(p *planes, w []uint64) {
	for i := range w {
		var v uint64
		for b := range p {
			v |= ((p[b] >> i) & lowBits) << b
		}
		w[i] = v
	}
}

// gfMul multiplies, lane by lane, the field elements held in a and b: the
// schoolbook product's 15 coefficients, then the fold of x^14..x^8 modulo
// the AES polynomial x^8 + x^4 + x^3 + x + 1, using
// x^k = x^(k-4) + x^(k-5) + x^(k-7) + x^(k-8), from the top down.
func gfMul(a, b *planes) planes {
	a0, a1, a2, a3, a4, a5, a6, a7 := a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]
	b0, b1, b2, b3, b4, b5, b6, b7 := b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]
	t0 := a0 & b0
	t1 := a0&b1 ^ a1&b0
	t2 := a0&b2 ^ a1&b1 ^ a2&b0
	t3 := a0&b3 ^ a1&b2 ^ a2&b1 ^ a3&b0
	t4 := a0&b4 ^ a1&b3 ^ a2&b2 ^ a3&b1 ^ a4&b0
	t5 := a0&b5 ^ a1&b4 ^ a2&b3 ^ a3&b2 ^ a4&b1 ^ a5&b0
	t6 := a0&b6 ^ a1&b5 ^ a2&b4 ^ a3&b3 ^ a4&b2 ^ a5&b1 ^ a6&b0
	t7 := a0&b7 ^ a1&b6 ^ a2&b5 ^ a3&b4 ^ a4&b3 ^ a5&b2 ^ a6&b1 ^ a7&b0
	t8 := a1&b7 ^ a2&b6 ^ a3&b5 ^ a4&b4 ^ a5&b3 ^ a6&b2 ^ a7&b1
	t9 := a2&b7 ^ a3&b6 ^ a4&b5 ^ a5&b4 ^ a6&b3 ^ a7&b2
	t10 := a3&b7 ^ a4&b6 ^ a5&b5 ^ a6&b4 ^ a7&b3
	t11 := a4&b7 ^ a5&b6 ^ a6&b5 ^ a7&b4
	t12 := a5&b7 ^ a6&b6 ^ a7&b5
	t13 := a6&b7 ^ a7&b6
	t14 := a7 & b7
	t6, t7, t9, t10 = t6^t14, t7^t14, t9^t14, t10^t14
	t5, t6, t8, t9 = t5^t13, t6^t13, t8^t13, t9^t13
	t4, t5, t7, t8 = t4^t12, t5^t12, t7^t12, t8^t12
	t3, t4, t6, t7 = t3^t11, t4^t11, t6^t11, t7^t11
	t2, t3, t5, t6 = t2^t10, t3^t10, t5^t10, t6^t10
	t1, t2, t4, t5 = t1^t9, t2^t9, t4^t9, t5^t9
	t0, t1, t3, t4 = t0^t8, t1^t8, t3^t8, t4^t8
	return planes{t0, t1, t2, t3, t4, t5, t6, t7}
}

// gfSquare squares, lane by lane, the field elements held in a. Squaring is
// linear in characteristic 2: the square of sum(a_i x^i) is sum(a_i x^2i),
// and reducing x^8, x^10, x^12 and x^14 gives
//
//	x^8  = x^4 + x^3 + x + 1
//	x^10 = x^6 + x^5 + x^3 + x^2
//	x^12 = x^7 + x^5 + x^3 + x + 1
//	x^14 = x^7 + x^4 + x^3 + x
func gfSquare(a *planes) planes {
	a46 := a[4] ^ a[6]
	a67 := a[6] ^ a[7]
	return planes{
		a[0] ^ a46,
		a46 ^ a[7],
		a[1] ^ a[5],
		a[4] ^ a[5] ^ a67,
		a[2] ^ a[4] ^ a[7],
		a[5] ^ a[6],
		a[3] ^ a[5],
		a67,
	}
}

// subBytesPlanes applies the AES S-box to every lane of x.
func subBytesPlanes(x *planes) {
	// Inversion as x^254 (0 maps to 0, as the S-box requires).
	x2 := gfSquare(x)
	x3 := gfMul(&x2, x)
	x6 := gfSquare(&x3)
	x12 := gfSquare(&x6)
	x15 := gfMul(&x12, &x3)
	x30 := gfSquare(&x15)
	x60 := gfSquare(&x30)
	x120 := gfSquare(&x60)
	x240 := gfSquare(&x120)
	x252 := gfMul(&x240, &x12)
	inv := gfMul(&x252, &x2)

	// Affine map: s_i = b_i ^ b_(i+4) ^ b_(i+5) ^ b_(i+6) ^ b_(i+7) ^ c_i,
	// indices mod 8, with c = 0x63 (bits 0, 1, 5 and 6).
	b0, b1, b2, b3, b4, b5, b6, b7 := inv[0], inv[1], inv[2], inv[3], inv[4], inv[5], inv[6], inv[7]
	*x = planes{
		^(b0 ^ b4 ^ b5 ^ b6 ^ b7),
		^(b1 ^ b5 ^ b6 ^ b7 ^ b0),
		b2 ^ b6 ^ b7 ^ b0 ^ b1,
		b3 ^ b7 ^ b0 ^ b1 ^ b2,
		b4 ^ b0 ^ b1 ^ b2 ^ b3,
		^(b5 ^ b1 ^ b2 ^ b3 ^ b4),
		^(b6 ^ b2 ^ b3 ^ b4 ^ b5),
		b7 ^ b3 ^ b4 ^ b5 ^ b6,
	}
}

// subBytes applies the AES S-box to every byte of w.
func subBytes(w []uint64) {
	for len(w) > 0 {
		n := min(len(w), 8)
		p := toPlanes(w[:n])
		subBytesPlanes(&p)
		fromPlanes(&p, w[:n])
		w = w[n:]
	}
}

// xtime32 multiplies each byte of v by x in GF(2^8).
func xtime32(v uint32) uint32 {
	return ((v & 0x7f7f7f7f) << 1) ^ (((v >> 7) & 0x01010101) * 0x1b)
}

// mixColumn applies MixColumns to one column (row r in byte r).
func mixColumn(x uint32) uint32 {
	y := x>>8 | x<<24 // byte r of y is row r+1
	return xtime32(x^y) ^ y ^ (x>>16 | x<<16) ^ (x>>24 | x<<8)
}

// shiftMix applies ShiftRows then MixColumns to the block (lo, hi), whose
// bytes have already been through SubBytes.
func shiftMix(b block) block {
	c0, c1 := uint32(b[0]), uint32(b[0]>>32)
	c2, c3 := uint32(b[1]), uint32(b[1]>>32)
	const r0, r1, r2, r3 = 0x000000ff, 0x0000ff00, 0x00ff0000, 0xff000000
	n0 := mixColumn(c0&r0 | c1&r1 | c2&r2 | c3&r3)
	n1 := mixColumn(c1&r0 | c2&r1 | c3&r2 | c0&r3)
	n2 := mixColumn(c2&r0 | c3&r1 | c0&r2 | c1&r3)
	n3 := mixColumn(c3&r0 | c0&r1 | c1&r2 | c2&r3)
	return block{uint64(n0) | uint64(n1)<<32, uint64(n2) | uint64(n3)<<32}
}

// aesRound computes AESRound(in, rk): SubBytes, ShiftRows, MixColumns, then
// the XOR of the round key.
func aesRound(in, rk block) block {
	w := [2]uint64{in[0], in[1]}
	subBytes(w[:])
	out := shiftMix(block(w))
	return block{out[0] ^ rk[0], out[1] ^ rk[1]}
}
