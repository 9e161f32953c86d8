// Package aegis256 implements the AEGIS-256 authenticated cipher as specified
// by the CFRG draft "The AEGIS Family of Authenticated Encryption Algorithms"
// (draft-irtf-cfrg-aegis-aead): a 32-byte key, a 32-byte nonce and a 16-byte
// (or, with NewWithTagSize, 32-byte) authentication tag.
//
// The AEADs returned by New and NewWithTagSize implement crypto/cipher.AEAD.
// The ciphertext is the encrypted message followed by the tag, so Overhead is
// the tag size. With a 32-byte tag the output is the same as libsodium's
// crypto_aead_aegis256; the 16-byte tag is the XOR of the 32-byte tag's
// halves, as the draft defines it.
//
// Nonces are 32 bytes, so they can be chosen at random for every message with
// no practical limit on the number of messages per key. A nonce must never be
// used twice with the same key: doing so reveals the state and lets an
// attacker forge messages.
//
// # Implementations and timing
//
// On amd64 CPUs with the AES-NI instructions, the state update runs in
// assembly built on AESENC. That path does no secret-dependent branching or
// memory indexing and runs in constant time.
//
// Elsewhere (other architectures, amd64 without AES-NI, or the purego build
// tag) a portable Go implementation is used. Its AES round does not use lookup
// tables: SubBytes is computed in bitsliced form with GF(2^8) arithmetic, and
// the other steps use shifts, masks and XORs, so it is also free of
// secret-dependent branches and memory accesses, at the cost of speed (tens of
// MB/s against GB/s for AES-NI).
//
// Tag verification in Open compares in constant time. On failure Open returns
// ErrOpen and zeroes whatever it had decrypted into its output buffer.
package aegis256

import (
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"strconv"
	"unsafe"
)

const (
	// KeySize is the size of an AEGIS-256 key in bytes.
	KeySize = 32
	// NonceSize is the size of an AEGIS-256 nonce in bytes.
	NonceSize = 32
	// TagSize is the size in bytes of the authentication tag used by New.
	TagSize = 16
	// LongTagSize is the size in bytes of the optional 256-bit tag.
	LongTagSize = 32
)

// maxMessage is the draft's P_MAX and A_MAX: 2^61 - 1 bytes, so that the
// lengths in bits fit in 64 bits.
const maxMessage = 1<<61 - 1

// ErrOpen is returned by Open when the ciphertext, tag, nonce or additional
// data do not authenticate.
var ErrOpen = errors.New("aegis256: message authentication failed")

// C0 and C1, the draft's constants, as blocks.
var (
	c0 = block{0x0d08050302010100, 0x6279e99059372215}
	c1 = block{0xf12fc26d55183ddb, 0xdd28b57342311120}
)

type aead struct {
	key     [KeySize]byte
	tagSize int
	asm     bool // use the AES-NI assembly for the state update
}

// New returns AEGIS-256 with a 16-byte tag for the given 32-byte key. It
// returns an error if the key is not 32 bytes long.
//
// As with the standard library's AEADs, Seal and Open panic if the nonce is
// not NonceSize bytes long or if the output buffer overlaps an input other
// than exactly.
func New(key []byte) (cipher.AEAD, error) {
	return NewWithTagSize(key, TagSize)
}

// NewWithTagSize is New with a tag of tagSize bytes, which must be TagSize
// (16) or LongTagSize (32).
func NewWithTagSize(key []byte, tagSize int) (cipher.AEAD, error) {
	return newAEAD(key, tagSize, haveAESNI)
}

func newAEAD(key []byte, tagSize int, asm bool) (*aead, error) {
	if len(key) != KeySize {
		return nil, errors.New("aegis256: invalid key size " + strconv.Itoa(len(key)) + ", want 32")
	}
	if tagSize != TagSize && tagSize != LongTagSize {
		return nil, errors.New("aegis256: invalid tag size " + strconv.Itoa(tagSize) + ", want 16 or 32")
	}
	a := &aead{tagSize: tagSize, asm: asm}
	copy(a.key[:], key)
	return a, nil
}

func (a *aead) NonceSize() int { return NonceSize }
func (a *aead) Overhead() int  { return a.tagSize }

// absorb runs Update on each whole 16-byte block of src.
func (a *aead) absorb(s *state, src []byte) {
	if a.asm {
		absorbBlocksAsm(s, src)
	} else {
		s.absorbGeneric(src)
	}
}

// absorbPadded absorbs src zero-padded to a whole number of blocks.
func (a *aead) absorbPadded(s *state, src []byte) {
	full := len(src) &^ 15
	a.absorb(s, src[:full])
	if full < len(src) {
		var buf [16]byte
		copy(buf[:], src[full:])
		a.absorb(s, buf[:])
	}
}

// start runs Init(key, nonce).
func (a *aead) start(s *state, nonce []byte) {
	if a.asm {
		initAsm(s, &a.key, (*[NonceSize]byte)(nonce))
		return
	}
	k0, k1 := loadBlock(a.key[:16]), loadBlock(a.key[16:])
	n0, n1 := loadBlock(nonce[:16]), loadBlock(nonce[16:])
	k0n0, k1n1 := xor(k0, n0), xor(k1, n1)
	*s = state{k0n0, k1n1, c1, c0, xor(k0, c0), xor(k1, c1)}
	for range 4 {
		s.update(k0)
		s.update(k1)
		s.update(k0n0)
		s.update(k1n1)
	}
}

// encrypt encrypts src into dst (same length; they may be the same slice).
func (a *aead) encrypt(s *state, dst, src []byte) {
	full := len(src) &^ 15
	if a.asm {
		encBlocksAsm(s, dst[:full], src[:full])
	} else {
		s.encGeneric(dst[:full], src[:full])
	}
	if full < len(src) {
		var buf [16]byte
		copy(buf[:], src[full:])
		if a.asm {
			encBlocksAsm(s, buf[:], buf[:])
		} else {
			s.encGeneric(buf[:], buf[:])
		}
		copy(dst[full:], buf[:len(src)-full])
	}
}

// decrypt decrypts src into dst (same length; they may be the same slice).
func (a *aead) decrypt(s *state, dst, src []byte) {
	full := len(src) &^ 15
	if a.asm {
		decBlocksAsm(s, dst[:full], src[:full])
	} else {
		s.decGeneric(dst[:full], src[:full])
	}
	if n := len(src) - full; n > 0 {
		// DecPartial: the state absorbs the decrypted bytes zero-padded,
		// not the padded ciphertext's decryption.
		var z, buf [16]byte
		storeBlock(z[:], s.keystream())
		copy(buf[:], src[full:])
		for i := range n {
			buf[i] ^= z[i]
		}
		copy(dst[full:], buf[:n])
		a.absorb(s, buf[:])
	}
}

// finalize runs Finalize(|ad|, |msg|) and writes the tag to tag, which is
// a.tagSize bytes long.
func (a *aead) finalize(s *state, adLen, msgLen int, tag []byte) {
	adBits, msgBits := uint64(adLen)<<3, uint64(msgLen)<<3
	if a.asm {
		finalizeAsm(s, adBits, msgBits)
	} else {
		t := block{s[3][0] ^ adBits, s[3][1] ^ msgBits}
		for range 7 {
			s.update(t)
		}
	}
	if a.tagSize == TagSize {
		storeBlock(tag, xor(xor(xor(s[0], s[1]), xor(s[2], s[3])), xor(s[4], s[5])))
	} else {
		storeBlock(tag[:16], xor(xor(s[0], s[1]), s[2]))
		storeBlock(tag[16:], xor(xor(s[3], s[4]), s[5]))
	}
}

func (a *aead) Seal(dst, nonce, plaintext, additionalData []byte) []byte {
	if len(nonce) != NonceSize {
		panic("aegis256: incorrect nonce length given to Seal")
	}
	if uint64(len(plaintext)) > maxMessage || uint64(len(additionalData)) > maxMessage {
		panic("aegis256: message too large")
	}
	ret, out := sliceForAppend(dst, len(plaintext)+a.tagSize)
	if inexactOverlap(out, plaintext) {
		panic("aegis256: invalid buffer overlap")
	}
	var s state
	a.start(&s, nonce)
	a.absorbPadded(&s, additionalData)
	a.encrypt(&s, out[:len(plaintext)], plaintext)
	a.finalize(&s, len(additionalData), len(plaintext), out[len(plaintext):])
	return ret
}

func (a *aead) Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error) {
	if len(nonce) != NonceSize {
		panic("aegis256: incorrect nonce length given to Open")
	}
	if len(ciphertext) < a.tagSize {
		return nil, ErrOpen
	}
	n := len(ciphertext) - a.tagSize
	if uint64(n) > maxMessage || uint64(len(additionalData)) > maxMessage {
		return nil, ErrOpen
	}
	ct, tag := ciphertext[:n], ciphertext[n:]
	ret, out := sliceForAppend(dst, n)
	if inexactOverlap(out, ciphertext) {
		panic("aegis256: invalid buffer overlap")
	}
	var s state
	a.start(&s, nonce)
	a.absorbPadded(&s, additionalData)
	a.decrypt(&s, out, ct)
	var want [LongTagSize]byte
	a.finalize(&s, len(additionalData), n, want[:a.tagSize])
	if subtle.ConstantTimeCompare(want[:a.tagSize], tag) != 1 {
		clear(out)
		return nil, ErrOpen
	}
	return ret, nil
}

// sliceForAppend extends in by n bytes, reallocating if its capacity is too
// small, and returns the whole slice and the n new bytes.
func sliceForAppend(in []byte, n int) (whole, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		whole = in[:total]
	} else {
		whole = make([]byte, total)
		copy(whole, in)
	}
	return whole, whole[len(in):]
}

// inexactOverlap reports whether x and y share memory without starting at
// the same address; an output may only alias an input exactly.
func inexactOverlap(x, y []byte) bool {
	if len(x) == 0 || len(y) == 0 {
		return false
	}
	xs, ys := uintptr(unsafe.Pointer(&x[0])), uintptr(unsafe.Pointer(&y[0]))
	xe, ye := xs+uintptr(len(x)), ys+uintptr(len(y))
	return xs != ys && xs < ye && ys < xe
}
