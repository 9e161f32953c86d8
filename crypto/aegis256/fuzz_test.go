package aegis256

import (
	"bytes"
	"testing"
)

// FuzzOpen seals msg under a key and nonce derived from keyNonce, applies one
// modification chosen by op to the ciphertext, tag, nonce or additional
// data, and checks that Open, on every implementation, returns nil and
// ErrOpen without panicking and leaves its output buffer zeroed. The
// unmodified message must still open. Run with
//
//	go test -run '^$' -fuzz FuzzOpen ./crypto/aegis256
func FuzzOpen(f *testing.F) {
	f.Add([]byte("key and nonce"), []byte(""), []byte(""), uint8(0), uint32(0), uint8(1), false)
	f.Add([]byte{1}, []byte("hello, world"), []byte("header"), uint8(0), uint32(3), uint8(0x80), false)
	f.Add([]byte{2}, bytes.Repeat([]byte{7}, 33), []byte("ad"), uint8(0), uint32(33), uint8(1), true)
	f.Add([]byte{3}, bytes.Repeat([]byte{9}, 64), []byte(nil), uint8(1), uint32(31), uint8(0xff), false)
	f.Add([]byte{4}, []byte("sixteen bytes!!!"), []byte("x"), uint8(2), uint32(0), uint8(1), false)
	f.Add([]byte{5}, []byte("msg"), []byte("additional data"), uint8(3), uint32(5), uint8(0), true)
	f.Add([]byte{6}, bytes.Repeat([]byte{1}, 100), []byte("ad"), uint8(4), uint32(50), uint8(0), false)
	f.Add([]byte{7}, []byte("msg"), []byte(nil), uint8(5), uint32(0), uint8(0), false)
	f.Add([]byte{8}, bytes.Repeat([]byte{2}, 47), bytes.Repeat([]byte{3}, 17), uint8(6), uint32(9), uint8(4), true)
	f.Add([]byte{9}, []byte("raw"), []byte("ad"), uint8(7), uint32(40), uint8(0), false)

	f.Fuzz(func(t *testing.T, keyNonce, msg, ad []byte, op uint8, pos uint32, val uint8, long bool) {
		var kn [KeySize + NonceSize]byte
		copy(kn[:], keyNonce)
		key, nonce := kn[:KeySize], kn[KeySize:]
		tagSize := TagSize
		if long {
			tagSize = LongTagSize
		}
		if val == 0 {
			val = 1 // every modification must change something
		}
		sealer := mustAEAD(t, key, tagSize, haveAESNI)
		sealed := sealer.Seal(nil, nonce, msg, ad)
		ct := append([]byte{}, sealed...)
		n2 := append([]byte{}, nonce...)
		ad2 := append([]byte{}, ad...)
		opener := tagSize

		switch op % 8 {
		case 0: // flip bits in the ciphertext or the tag
			ct[int(pos%uint32(len(ct)))] ^= val
		case 1: // flip bits in the nonce
			n2[int(pos%NonceSize)] ^= val
		case 2: // change the additional data
			if len(ad2) == 0 {
				ad2 = []byte{val}
			} else {
				ad2[int(pos%uint32(len(ad2)))] ^= val
			}
		case 3: // truncate
			ct = ct[:int(pos%uint32(len(ct)))]
		case 4: // extend
			ct = append(ct, make([]byte, 1+int(pos%64))...)
			ct[len(ct)-1] = val
		case 5: // drop or add a byte of additional data
			if len(ad2) > 0 {
				ad2 = ad2[:len(ad2)-1]
			} else {
				ad2 = append(ad2, 0)
			}
		case 6: // open with the other tag size
			opener = TagSize + LongTagSize - tagSize
		case 7: // bytes that never came from Seal
			ct = append(append([]byte{}, msg...), ad...)
			ct = append(ct, make([]byte, int(pos%48))...)
		}

		for _, im := range impls(t) {
			a := mustAEAD(t, key, tagSize, im.asm)
			if got, err := a.Open(nil, nonce, sealed, ad); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("%s: unmodified message did not open: %v", im.name, err)
			}
			b := mustAEAD(t, key, opener, im.asm)
			out := make([]byte, 0, len(ct))
			got, err := b.Open(out, n2, ct, ad2)
			if err != ErrOpen || got != nil {
				t.Fatalf("%s: modified input (op %d): Open = %x, %v; want nil, ErrOpen", im.name, op%8, got, err)
			}
			for i, c := range out[:cap(out)] {
				if c != 0 {
					t.Fatalf("%s: output byte %d not zeroed after failure", im.name, i)
				}
			}
		}
	})
}
