//go:build !amd64 || purego

package aegis256

// haveAESNI is false: only the portable implementation is built.
const haveAESNI = false

func initAsm(s *state, key *[KeySize]byte, nonce *[NonceSize]byte) {
	panic("aegis256: no assembly implementation")
}

func finalizeAsm(s *state, adBits, msgBits uint64) { panic("aegis256: no assembly implementation") }

func absorbBlocksAsm(s *state, src []byte) { panic("aegis256: no assembly implementation") }

func encBlocksAsm(s *state, dst, src []byte) { panic("aegis256: no assembly implementation") }

func decBlocksAsm(s *state, dst, src []byte) { panic("aegis256: no assembly implementation") }
