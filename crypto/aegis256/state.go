package aegis256

import "encoding/binary"

// block is a 128-bit AES block: bytes 0-7 little-endian in [0], bytes 8-15 in
// [1]. On little-endian machines its memory layout is the block's bytes, which
// the assembly relies on.
type block [2]uint64

// state is the AEGIS-256 state {S0, ..., S5}: 96 bytes, laid out as six
// consecutive blocks.
type state [6]block

func loadBlock(b []byte) block {
	return block{binary.LittleEndian.Uint64(b[0:8]), binary.LittleEndian.Uint64(b[8:16])}
}

func storeBlock(b []byte, v block) {
	binary.LittleEndian.PutUint64(b[0:8], v[0])
	binary.LittleEndian.PutUint64(b[8:16], v[1])
}

func xor(a, b block) block { return block{a[0] ^ b[0], a[1] ^ b[1]} }

// keystream returns z = S1 ^ S4 ^ S5 ^ (S2 & S3).
func (s *state) keystream() block {
	return block{
		s[1][0] ^ s[4][0] ^ s[5][0] ^ (s[2][0] & s[3][0]),
		s[1][1] ^ s[4][1] ^ s[5][1] ^ (s[2][1] & s[3][1]),
	}
}

// update is the portable Update(M):
//
//	S'0 = AESRound(S5, S0 ^ M)
//	S'i = AESRound(S(i-1), Si) for i = 1..5
func (s *state) update(m block) {
	// SubBytes of all six blocks in one bitsliced pass.
	var w [12]uint64
	for i := range s {
		w[2*i], w[2*i+1] = s[i][0], s[i][1]
	}
	subBytes(w[:])
	var r [6]block
	for i := range r {
		r[i] = shiftMix(block{w[2*i], w[2*i+1]})
	}
	s[0], s[1], s[2], s[3], s[4], s[5] = xor(r[5], xor(s[0], m)),
		xor(r[0], s[1]), xor(r[1], s[2]), xor(r[2], s[3]), xor(r[3], s[4]), xor(r[4], s[5])
}

// absorbGeneric runs Update on each whole 16-byte block of src.
func (s *state) absorbGeneric(src []byte) {
	for len(src) >= 16 {
		s.update(loadBlock(src))
		src = src[16:]
	}
}

// encGeneric encrypts the whole 16-byte blocks of src into dst, which must be
// at least as long. dst and src may be the same slice.
func (s *state) encGeneric(dst, src []byte) {
	for len(src) >= 16 {
		x := loadBlock(src)
		storeBlock(dst, xor(x, s.keystream()))
		s.update(x)
		src, dst = src[16:], dst[16:]
	}
}

// decGeneric decrypts the whole 16-byte blocks of src into dst, which must be
// at least as long. dst and src may be the same slice.
func (s *state) decGeneric(dst, src []byte) {
	for len(src) >= 16 {
		x := xor(loadBlock(src), s.keystream())
		storeBlock(dst, x)
		s.update(x)
		src, dst = src[16:], dst[16:]
	}
}
