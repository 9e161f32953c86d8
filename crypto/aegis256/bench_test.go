package aegis256

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"testing"
)

var benchSizes = []int{64, 1024, 64 * 1024}

// benchAEADs returns the AEADs compared by the benchmarks: both AEGIS-256
// paths and the standard library's AES-256-GCM.
func benchAEADs(b *testing.B) []struct {
	name string
	aead cipher.AEAD
} {
	key := make([]byte, 32)
	var list []struct {
		name string
		aead cipher.AEAD
	}
	for _, im := range impls(b) {
		list = append(list, struct {
			name string
			aead cipher.AEAD
		}{"AEGIS256-" + im.name, mustAEAD(b, key, TagSize, im.asm)})
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		b.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	return append(list, struct {
		name string
		aead cipher.AEAD
	}{"AES256-GCM", gcm})
}

func BenchmarkSeal(b *testing.B) {
	for _, c := range benchAEADs(b) {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", c.name, n), func(b *testing.B) {
				nonce := make([]byte, c.aead.NonceSize())
				msg, ad := make([]byte, n), make([]byte, 13)
				out := make([]byte, 0, n+c.aead.Overhead())
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					out = c.aead.Seal(out[:0], nonce, msg, ad)
				}
			})
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, c := range benchAEADs(b) {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", c.name, n), func(b *testing.B) {
				nonce := make([]byte, c.aead.NonceSize())
				msg, ad := make([]byte, n), make([]byte, 13)
				sealed := c.aead.Seal(nil, nonce, msg, ad)
				out := make([]byte, 0, n)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					var err error
					out, err = c.aead.Open(out[:0], nonce, sealed, ad)
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
