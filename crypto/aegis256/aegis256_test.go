package aegis256

import (
	"bytes"
	"crypto/cipher"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// impl is one of the package's implementations of the state update.
type impl struct {
	name string
	asm  bool
}

// impls lists the implementations this build can run: always the portable
// one, and the assembly where the CPU supports it.
func impls(t testing.TB) []impl {
	list := []impl{{"portable", false}}
	if haveAESNI {
		list = append(list, impl{"asm", true})
	} else {
		t.Logf("assembly implementation not available in this build or on this CPU")
	}
	return list
}

func mustAEAD(t testing.TB, key []byte, tagSize int, asm bool) *aead {
	t.Helper()
	a, err := newAEAD(key, tagSize, asm)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// The AEGIS-256 test vectors of draft-irtf-cfrg-aegis-aead, appendix A.
var vectors = []struct {
	name           string
	key, nonce, ad string
	msg, ct        string
	tag128, tag256 string
	fail           bool // "This test MUST return a verification failed error"
}{
	{
		name:   "Test Vector 1",
		key:    "10010000000000000000000000000000 00000000000000000000000000000000",
		nonce:  "10000200000000000000000000000000 00000000000000000000000000000000",
		ad:     "",
		msg:    "00000000000000000000000000000000",
		ct:     "754fc3d8c973246dcc6d741412a4b236",
		tag128: "3fe91994768b332ed7f570a19ec5896e",
		tag256: "1181a1d18091082bf0266f66297d167d 2e68b845f61a3b0527d31fc7b7b89f13",
	},
	{
		name:   "Test Vector 2",
		key:    "10010000000000000000000000000000 00000000000000000000000000000000",
		nonce:  "10000200000000000000000000000000 00000000000000000000000000000000",
		ad:     "",
		msg:    "",
		ct:     "",
		tag128: "e3def978a0f054afd1e761d7553afba3",
		tag256: "6a348c930adbd654896e1666aad67de9 89ea75ebaa2b82fb588977b1ffec864a",
	},
	{
		name:   "Test Vector 3",
		key:    "10010000000000000000000000000000 00000000000000000000000000000000",
		nonce:  "10000200000000000000000000000000 00000000000000000000000000000000",
		ad:     "0001020304050607",
		msg:    "000102030405060708090a0b0c0d0e0f 101112131415161718191a1b1c1d1e1f",
		ct:     "f373079ed84b2709faee373584585d60 accd191db310ef5d8b11833df9dec711",
		tag128: "8d86f91ee606e9ff26a01b64ccbdd91d",
		tag256: "b7d28d0c3c0ebd409fd22b4416050307 3a547412da0854bfb9723020dab8da1a",
	},
	{
		name:   "Test Vector 4",
		key:    "10010000000000000000000000000000 00000000000000000000000000000000",
		nonce:  "10000200000000000000000000000000 00000000000000000000000000000000",
		ad:     "0001020304050607",
		msg:    "000102030405060708090a0b0c0d",
		ct:     "f373079ed84b2709faee37358458",
		tag128: "c60b9c2d33ceb058f96e6dd03c215652",
		tag256: "8c1cc703c81281bee3f6d9966e14948b 4a175b2efbdc31e61a98b4465235c2d9",
	},
	{
		name:   "Test Vector 5",
		key:    "10010000000000000000000000000000 00000000000000000000000000000000",
		nonce:  "10000200000000000000000000000000 00000000000000000000000000000000",
		ad:     "000102030405060708090a0b0c0d0e0f 101112131415161718191a1b1c1d1e1f 20212223242526272829",
		msg:    "101112131415161718191a1b1c1d1e1f 202122232425262728292a2b2c2d2e2f 3031323334353637",
		ct:     "57754a7d09963e7c787583a2e7b859bb 24fa1e04d49fd550b2511a358e3bca25 2a9b1b8b30cc4a67",
		tag128: "ab8a7d53fd0e98d727accca94925e128",
		tag256: "a3aca270c006094d71c20e6910b5161c 0826df233d08919a566ec2c05990f734",
	},
	{
		name:   "Test Vector 6",
		key:    "10000200000000000000000000000000 00000000000000000000000000000000",
		nonce:  "10010000000000000000000000000000 00000000000000000000000000000000",
		ad:     "0001020304050607",
		ct:     "f373079ed84b2709faee37358458",
		tag128: "c60b9c2d33ceb058f96e6dd03c215652",
		tag256: "8c1cc703c81281bee3f6d9966e14948b 4a175b2efbdc31e61a98b4465235c2d9",
		fail:   true,
	},
	{
		name:   "Test Vector 7",
		key:    "10010000000000000000000000000000 00000000000000000000000000000000",
		nonce:  "10000200000000000000000000000000 00000000000000000000000000000000",
		ad:     "0001020304050607",
		ct:     "f373079ed84b2709faee37358459",
		tag128: "c60b9c2d33ceb058f96e6dd03c215652",
		tag256: "8c1cc703c81281bee3f6d9966e14948b 4a175b2efbdc31e61a98b4465235c2d9",
		fail:   true,
	},
	{
		name:   "Test Vector 8",
		key:    "10010000000000000000000000000000 00000000000000000000000000000000",
		nonce:  "10000200000000000000000000000000 00000000000000000000000000000000",
		ad:     "0001020304050608",
		ct:     "f373079ed84b2709faee37358458",
		tag128: "c60b9c2d33ceb058f96e6dd03c215652",
		tag256: "8c1cc703c81281bee3f6d9966e14948b 4a175b2efbdc31e61a98b4465235c2d9",
		fail:   true,
	},
	{
		name:   "Test Vector 9",
		key:    "10010000000000000000000000000000 00000000000000000000000000000000",
		nonce:  "10000200000000000000000000000000 00000000000000000000000000000000",
		ad:     "0001020304050607",
		ct:     "f373079ed84b2709faee37358458",
		tag128: "c60b9c2d33ceb058f96e6dd03c215653",
		tag256: "8c1cc703c81281bee3f6d9966e14948b 4a175b2efbdc31e61a98b4465235c2da",
		fail:   true,
	},
}

func TestVectors(t *testing.T) {
	for _, im := range impls(t) {
		for _, v := range vectors {
			for _, tv := range []struct {
				size int
				tag  string
			}{{TagSize, v.tag128}, {LongTagSize, v.tag256}} {
				t.Run(fmt.Sprintf("%s/%s/tag%d", im.name, v.name, tv.size*8), func(t *testing.T) {
					a := mustAEAD(t, unhex(v.key), tv.size, im.asm)
					nonce, ad, ct, tag := unhex(v.nonce), unhex(v.ad), unhex(v.ct), unhex(tv.tag)
					sealed := append(append([]byte{}, ct...), tag...)
					if v.fail {
						out := []byte("prefix")
						got, err := a.Open(out, nonce, sealed, ad)
						if !errors.Is(err, ErrOpen) || got != nil {
							t.Fatalf("Open = %x, %v; want nil, ErrOpen", got, err)
						}
						return
					}
					msg := unhex(v.msg)
					if got := a.Seal(nil, nonce, msg, ad); !bytes.Equal(got, sealed) {
						t.Fatalf("Seal =\n%x\nwant\n%x", got, sealed)
					}
					got, err := a.Open(nil, nonce, sealed, ad)
					if err != nil || !bytes.Equal(got, msg) {
						t.Fatalf("Open = %x, %v; want %x", got, err, msg)
					}
				})
			}
		}
	}
}

// TestUpdateVector checks the draft's Update test vector on both
// implementations.
func TestUpdateVector(t *testing.T) {
	in := [6]string{
		"1fa1207ed76c86f2c4bb40e8b395b43e", "b44c375e6c1e1978db64bcd12e9e332f",
		"0dab84bfa9f0226432ff630f233d4e5b", "d7ef65c9b93e8ee60c75161407b066e7",
		"a760bb3da073fbd92bdc24734b1f56fb", "a828a18d6a964497ac6e7e53c5f55c73",
	}
	m := "b165617ed04ab738afb2612c6d18a1ec"
	want := [6]string{
		"e6bc643bae82dfa3d991b1b323839dcd", "648578232ba0f2f0a3677f617dc052c3",
		"ea788e0e572044a46059212dd007a789", "2f1498ae19b80da13fba698f088a8590",
		"a54c2ee95e8c2a2c3dae2ec743ae6b86", "a3240fceb68e32d5d114df1b5363ab67",
	}
	for _, im := range impls(t) {
		var s state
		for i := range s {
			s[i] = loadBlock(unhex(in[i]))
		}
		a := &aead{asm: im.asm}
		a.absorb(&s, unhex(m))
		for i := range s {
			var b [16]byte
			storeBlock(b[:], s[i])
			if got := hex.EncodeToString(b[:]); got != want[i] {
				t.Errorf("%s: S%d = %s, want %s", im.name, i, got, want[i])
			}
		}
	}
}

// TestAESRoundVector checks the draft's AESRound test vector.
func TestAESRoundVector(t *testing.T) {
	out := aesRound(loadBlock(unhex("000102030405060708090a0b0c0d0e0f")), loadBlock(unhex("101112131415161718191a1b1c1d1e1f")))
	var b [16]byte
	storeBlock(b[:], out)
	if got, want := hex.EncodeToString(b[:]), "7a7b4e5638782546a8c0477a3b813f43"; got != want {
		t.Fatalf("AESRound = %s, want %s", got, want)
	}
}

// refSbox computes the AES S-box from its definition, one byte at a time, as
// an independent reference for the bitsliced version.
func refSbox() (s [256]byte) {
	mul := func(a, b byte) (p byte) {
		for ; b != 0; b >>= 1 {
			if b&1 != 0 {
				p ^= a
			}
			hi := a & 0x80
			a <<= 1
			if hi != 0 {
				a ^= 0x1b
			}
		}
		return p
	}
	for x := 0; x < 256; x++ {
		var inv byte
		for y := 1; y < 256 && x != 0; y++ {
			if mul(byte(x), byte(y)) == 1 {
				inv = byte(y)
				break
			}
		}
		r := func(v byte, n int) byte { return v<<n | v>>(8-n) }
		s[x] = inv ^ r(inv, 1) ^ r(inv, 2) ^ r(inv, 3) ^ r(inv, 4) ^ 0x63
	}
	return s
}

func TestSubBytesExhaustive(t *testing.T) {
	ref := refSbox()
	if ref[0] != 0x63 || ref[1] != 0x7c || ref[0x53] != 0xed {
		t.Fatal("reference S-box is wrong")
	}
	// All 256 values, in every lane position, with 1 to 12 words.
	for words := 1; words <= 12; words++ {
		for shift := 0; shift < 8*words; shift++ {
			in := make([]byte, 8*words)
			for i := range in {
				in[i] = byte(i*97 + shift*31 + 7)
			}
			w := make([]uint64, words)
			for i := range w {
				w[i] = leUint64(in[8*i:])
			}
			subBytes(w)
			for i, x := range in {
				if got := byte(w[i/8] >> (8 * (i % 8))); got != ref[x] {
					t.Fatalf("words=%d: S(%#02x) = %#02x, want %#02x", words, x, got, ref[x])
				}
			}
		}
	}
}

func leUint64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// TestAgreement checks that the assembly and the portable implementation
// produce the same output on random inputs.
func TestAgreement(t *testing.T) {
	if !haveAESNI {
		t.Skip("assembly implementation not available")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	lengths := make([]int, 0, 1100)
	for n := 0; n <= 1000; n++ {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 4095, 4096, 4097, 65536, 65536+15, 1<<20+3)
	if testing.Short() {
		lengths = lengths[:300]
	}
	for _, n := range lengths {
		for _, tagSize := range []int{TagSize, LongTagSize} {
			key, nonce := randBytes(rng, KeySize), randBytes(rng, NonceSize)
			msg, ad := randBytes(rng, n), randBytes(rng, rng.IntN(100))
			if rng.IntN(4) == 0 {
				ad = randBytes(rng, n)
			}
			asm, port := mustAEAD(t, key, tagSize, true), mustAEAD(t, key, tagSize, false)
			c1, c2 := asm.Seal(nil, nonce, msg, ad), port.Seal(nil, nonce, msg, ad)
			if !bytes.Equal(c1, c2) {
				t.Fatalf("len %d, ad %d: asm and portable Seal differ", n, len(ad))
			}
			p1, err1 := asm.Open(nil, nonce, c2, ad)
			p2, err2 := port.Open(nil, nonce, c1, ad)
			if err1 != nil || err2 != nil || !bytes.Equal(p1, msg) || !bytes.Equal(p2, msg) {
				t.Fatalf("len %d, ad %d: Open failed: %v, %v", n, len(ad), err1, err2)
			}
		}
	}
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// TestAEADSemantics checks append, in-place and failure behaviour on both
// implementations.
func TestAEADSemantics(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, im := range impls(t) {
		for _, tagSize := range []int{TagSize, LongTagSize} {
			for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 100, 1000} {
				name := fmt.Sprintf("%s/tag%d/len%d", im.name, tagSize, n)
				key, nonce := randBytes(rng, KeySize), randBytes(rng, NonceSize)
				a := mustAEAD(t, key, tagSize, im.asm)
				var aead cipher.AEAD = a
				if aead.NonceSize() != 32 || aead.Overhead() != tagSize {
					t.Fatalf("%s: NonceSize %d, Overhead %d", name, aead.NonceSize(), aead.Overhead())
				}
				msg, ad := randBytes(rng, n), randBytes(rng, 20)
				want := a.Seal(nil, nonce, msg, ad)
				if len(want) != n+tagSize {
					t.Fatalf("%s: sealed length %d", name, len(want))
				}

				// Appending to a prefix.
				prefix := []byte("prefix")
				got := a.Seal(append([]byte{}, prefix...), nonce, msg, ad)
				if !bytes.Equal(got[:len(prefix)], prefix) || !bytes.Equal(got[len(prefix):], want) {
					t.Fatalf("%s: Seal with prefix", name)
				}
				opened, err := a.Open(append([]byte{}, prefix...), nonce, want, ad)
				if err != nil || !bytes.Equal(opened[:len(prefix)], prefix) || !bytes.Equal(opened[len(prefix):], msg) {
					t.Fatalf("%s: Open with prefix: %v", name, err)
				}

				// In place: dst == plaintext[:0] with room for the tag.
				buf := make([]byte, n, n+tagSize)
				copy(buf, msg)
				sealed := a.Seal(buf[:0], nonce, buf, ad)
				if !bytes.Equal(sealed, want) || (n > 0 && &sealed[0] != &buf[0]) {
					t.Fatalf("%s: in-place Seal", name)
				}
				plain, err := a.Open(sealed[:0], nonce, sealed, ad)
				if err != nil || !bytes.Equal(plain, msg) {
					t.Fatalf("%s: in-place Open: %v", name, err)
				}

				// Failure: nil result, ErrOpen, and the output zeroed.
				bad := append([]byte{}, want...)
				bad[rng.IntN(len(bad))] ^= 1 << rng.IntN(8)
				out := make([]byte, 0, n)
				res, err := a.Open(out, nonce, bad, ad)
				if res != nil || err != ErrOpen {
					t.Fatalf("%s: tampered Open = %v, %v", name, res, err)
				}
				for i, c := range out[:n] {
					if c != 0 {
						t.Fatalf("%s: output byte %d not zeroed after failure", name, i)
					}
				}
				// In place, a failure zeroes the decrypted part.
				res, err = a.Open(bad[:0], nonce, bad, ad)
				if res != nil || err != ErrOpen || !bytes.Equal(bad[:n], make([]byte, n)) {
					t.Fatalf("%s: in-place tampered Open = %v, %v", name, res, err)
				}
				if _, err := a.Open(nil, nonce, want[:tagSize-1], ad); err != ErrOpen {
					t.Fatalf("%s: short ciphertext: %v", name, err)
				}
			}
		}
	}
}

func TestNewErrors(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := New(make([]byte, n)); err == nil {
			t.Errorf("New with a %d-byte key succeeded", n)
		}
	}
	for _, n := range []int{0, 8, 12, 15, 17, 24, 33} {
		if _, err := NewWithTagSize(make([]byte, 32), n); err == nil {
			t.Errorf("NewWithTagSize with tag size %d succeeded", n)
		}
	}
	a, err := New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	mustPanic("Seal with a short nonce", func() { a.Seal(nil, make([]byte, 12), nil, nil) })
	mustPanic("Open with a long nonce", func() { a.Open(nil, make([]byte, 33), make([]byte, 16), nil) })
	buf := make([]byte, 64)
	mustPanic("Seal with inexact overlap", func() { a.Seal(buf[1:1], make([]byte, 32), buf[:32], nil) })
	mustPanic("Open with inexact overlap", func() { a.Open(buf[1:1], make([]byte, 32), buf[:48], nil) })
}

// TestKeyCopied checks that the AEAD does not keep a reference to the
// caller's key slice.
func TestKeyCopied(t *testing.T) {
	key := make([]byte, 32)
	a, _ := New(key)
	nonce := make([]byte, 32)
	c1 := a.Seal(nil, nonce, []byte("x"), nil)
	key[0] = 1
	if c2 := a.Seal(nil, nonce, []byte("x"), nil); !bytes.Equal(c1, c2) {
		t.Fatal("changing the key slice after New changed the output")
	}
}
