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
// 8 words) over bit planes. Byte k of w[i] goes to lane 8*k+i.
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

// reduce folds the 15-coefficient product t of two field elements modulo the
// AES polynomial x^8 + x^4 + x^3 + x + 1 and returns the result.
func reduce(t *[15]uint64) (r planes) {
	// x^k = x^(k-4) + x^(k-5) + x^(k-7) + x^(k-8) for k >= 8; folding from
	// the top down reduces the terms a fold pushes above x^7 again.
	for k := 14; k >= 8; k-- {
		t[k-4] ^= t[k]
		t[k-5] ^= t[k]
		t[k-7] ^= t[k]
		t[k-8] ^= t[k]
	}
	copy(r[:], t[:8])
	return r
}

// gfMul multiplies, lane by lane, the field elements held in a and b.
func gfMul(a, b *planes) planes {
	var t [15]uint64
	for i := 0; i < 8; i++ {
		ai := a[i]
		t[i+0] ^= ai & b[0]
		t[i+1] ^= ai & b[1]
		t[i+2] ^= ai & b[2]
		t[i+3] ^= ai & b[3]
		t[i+4] ^= ai & b[4]
		t[i+5] ^= ai & b[5]
		t[i+6] ^= ai & b[6]
		t[i+7] ^= ai & b[7]
	}
	return reduce(&t)
}

// gfSquare squares, lane by lane, the field elements held in a. Squaring is
// linear in characteristic 2: the square of sum(a_i x^i) is sum(a_i x^2i).
func gfSquare(a *planes) planes {
	var t [15]uint64
	t[0], t[2], t[4], t[6] = a[0], a[1], a[2], a[3]
	t[8], t[10], t[12], t[14] = a[4], a[5], a[6], a[7]
	return reduce(&t)
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
	// indices mod 8, with c = 0x63.
	for i := range x {
		x[i] = inv[i] ^ inv[(i+4)&7] ^ inv[(i+5)&7] ^ inv[(i+6)&7] ^ inv[(i+7)&7]
	}
	x[0] = ^x[0]
	x[1] = ^x[1]
	x[5] = ^x[5]
	x[6] = ^x[6]
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
