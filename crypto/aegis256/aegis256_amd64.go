//go:build amd64 && !purego

package aegis256

// haveAESNI reports whether the CPU has the AES-NI instructions; it is set
// once at start-up and only read afterwards.
var haveAESNI = cpuHasAESNI()

// cpuHasAESNI reports CPUID leaf 1, ECX bit 25.
func cpuHasAESNI() bool

// initAsm runs Init(key, nonce), setting all of s.
//
//go:noescape
func initAsm(s *state, key *[KeySize]byte, nonce *[NonceSize]byte)

// finalizeAsm runs the seven Updates of Finalize(adBits, msgBits); the tag is
// then read from s.
//
//go:noescape
func finalizeAsm(s *state, adBits, msgBits uint64)

// absorbBlocksAsm runs Update on each whole 16-byte block of src.
//
//go:noescape
func absorbBlocksAsm(s *state, src []byte)

// encBlocksAsm encrypts the whole 16-byte blocks of src into dst, which must
// be at least as long. dst and src may be the same slice.
//
//go:noescape
func encBlocksAsm(s *state, dst, src []byte)

// decBlocksAsm decrypts the whole 16-byte blocks of src into dst, which must
// be at least as long. dst and src may be the same slice.
//
//go:noescape
func decBlocksAsm(s *state, dst, src []byte)
