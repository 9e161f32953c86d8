//go:build amd64 && !purego

#include "textflag.h"

// Registers:
//   X0-X5   the state S0-S5
//   X6      the block M being absorbed
//   X7-X9   scratch
//   X10-X13 k0, k1, k0 ^ n0, k1 ^ n1 during Init
//
// Every function loads the state from memory, runs its updates in registers
// and stores the state back. No branch or memory address depends on the key,
// the nonce or the data.
//
// AESENC key, dst computes dst = AESRound(dst, key), the draft's
// AESRound(in=dst, rk=key).

#define LOAD_STATE(p) \
	MOVOU 0(p), X0  \
	MOVOU 16(p), X1 \
	MOVOU 32(p), X2 \
	MOVOU 48(p), X3 \
	MOVOU 64(p), X4 \
	MOVOU 80(p), X5

#define STORE_STATE(p) \
	MOVOU X0, 0(p)  \
	MOVOU X1, 16(p) \
	MOVOU X2, 32(p) \
	MOVOU X3, 48(p) \
	MOVOU X4, 64(p) \
	MOVOU X5, 80(p)

// UPDATE is Update(X6):
//   S'0 = AESRound(S5, S0 ^ M), computed as AESRound(S5, S0) ^ M so that M,
//         which in decryption depends on the state, is off the AESENC's path
//   S'i = AESRound(S(i-1), Si), i = 5 down to 1, so that each step still
//         reads the old S(i-1).
#define UPDATE \
	MOVO   X5, X7 \
	AESENC X0, X7 \
	PXOR   X6, X7 \
	MOVO   X4, X8 \
	AESENC X5, X8 \
	MOVO   X8, X5 \
	MOVO   X3, X8 \
	AESENC X4, X8 \
	MOVO   X8, X4 \
	MOVO   X2, X8 \
	AESENC X3, X8 \
	MOVO   X8, X3 \
	MOVO   X1, X8 \
	AESENC X2, X8 \
	MOVO   X8, X2 \
	MOVO   X0, X8 \
	AESENC X1, X8 \
	MOVO   X8, X1 \
	MOVO   X7, X0

// KEYSTREAM sets X9 = S1 ^ S4 ^ S5 ^ (S2 & S3).
#define KEYSTREAM \
	MOVO X2, X9 \
	PAND X3, X9 \
	PXOR X1, X9 \
	PXOR X4, X9 \
	PXOR X5, X9

// The draft's constants C0 and C1.
DATA c0<>+0(SB)/8, $0x0d08050302010100
DATA c0<>+8(SB)/8, $0x6279e99059372215
GLOBL c0<>(SB), RODATA|NOPTR, $16
DATA c1<>+0(SB)/8, $0xf12fc26d55183ddb
DATA c1<>+8(SB)/8, $0xdd28b57342311120
GLOBL c1<>(SB), RODATA|NOPTR, $16

// func initAsm(s *state, key *[32]byte, nonce *[32]byte)
//
// Init(key, nonce): S0 = k0 ^ n0, S1 = k1 ^ n1, S2 = C1, S3 = C0,
// S4 = k0 ^ C0, S5 = k1 ^ C1, then
// Repeat(4, Update(k0); Update(k1); Update(k0 ^ n0); Update(k1 ^ n1)).
TEXT ·initAsm(SB), NOSPLIT, $0-24
	MOVQ  s+0(FP), AX
	MOVQ  key+8(FP), BX
	MOVQ  nonce+16(FP), DX
	MOVOU 0(BX), X10
	MOVOU 16(BX), X11
	MOVOU 0(DX), X12
	MOVOU 16(DX), X13
	PXOR  X10, X12
	PXOR  X11, X13
	MOVO  X12, X0
	MOVO  X13, X1
	MOVOU c1<>(SB), X2
	MOVOU c0<>(SB), X3
	MOVO  X10, X4
	PXOR  X3, X4
	MOVO  X11, X5
	PXOR  X2, X5
	MOVQ  $4, CX

initLoop:
	MOVO X10, X6
	UPDATE
	MOVO X11, X6
	UPDATE
	MOVO X12, X6
	UPDATE
	MOVO X13, X6
	UPDATE
	DECQ CX
	JNZ  initLoop

	STORE_STATE(AX)
	RET

// func finalizeAsm(s *state, adBits, msgBits uint64)
//
// The updates of Finalize: t = S3 ^ (LE64(adBits) || LE64(msgBits)), then
// Repeat(7, Update(t)). The tag is computed from the state by the caller.
TEXT ·finalizeAsm(SB), NOSPLIT, $0-24
	MOVQ       s+0(FP), AX
	MOVQ       adBits+8(FP), BX
	MOVQ       msgBits+16(FP), DX
	LOAD_STATE(AX)
	MOVQ       BX, X6
	MOVQ       DX, X7
	PUNPCKLQDQ X7, X6
	PXOR       X3, X6
	MOVQ       $7, CX

finalizeLoop:
	UPDATE
	DECQ CX
	JNZ  finalizeLoop

	STORE_STATE(AX)
	RET

// func cpuHasAESNI() bool
TEXT ·cpuHasAESNI(SB), NOSPLIT, $0-1
	MOVL  $1, AX
	XORL  CX, CX
	CPUID
	SHRL  $25, CX
	ANDL  $1, CX
	MOVB  CX, ret+0(FP)
	RET

// func absorbBlocksAsm(s *state, src []byte)
TEXT ·absorbBlocksAsm(SB), NOSPLIT, $0-32
	MOVQ s+0(FP), AX
	MOVQ src_base+8(FP), SI
	MOVQ src_len+16(FP), CX
	SHRQ $4, CX
	JZ   absorbDone
	LOAD_STATE(AX)

absorbLoop:
	MOVOU (SI), X6
	UPDATE
	ADDQ  $16, SI
	DECQ  CX
	JNZ   absorbLoop

	STORE_STATE(AX)

absorbDone:
	RET

// func encBlocksAsm(s *state, dst, src []byte)
TEXT ·encBlocksAsm(SB), NOSPLIT, $0-56
	MOVQ s+0(FP), AX
	MOVQ dst_base+8(FP), DI
	MOVQ src_base+32(FP), SI
	MOVQ src_len+40(FP), CX
	SHRQ $4, CX
	JZ   encDone
	LOAD_STATE(AX)

encLoop:
	MOVOU (SI), X6
	KEYSTREAM
	PXOR  X6, X9
	MOVOU X9, (DI)
	UPDATE
	ADDQ  $16, SI
	ADDQ  $16, DI
	DECQ  CX
	JNZ   encLoop

	STORE_STATE(AX)

encDone:
	RET

// func decBlocksAsm(s *state, dst, src []byte)
TEXT ·decBlocksAsm(SB), NOSPLIT, $0-56
	MOVQ s+0(FP), AX
	MOVQ dst_base+8(FP), DI
	MOVQ src_base+32(FP), SI
	MOVQ src_len+40(FP), CX
	SHRQ $4, CX
	JZ   decDone
	LOAD_STATE(AX)

decLoop:
	// X6 = C ^ S1 ^ S4 ^ S5 ^ (S2 & S3), as a shallow tree.
	MOVOU (SI), X6
	PXOR  X5, X6
	MOVO  X1, X8
	PXOR  X4, X8
	MOVO  X2, X9
	PAND  X3, X9
	PXOR  X8, X9
	PXOR  X9, X6
	MOVOU X6, (DI)
	UPDATE
	ADDQ  $16, SI
	ADDQ  $16, DI
	DECQ  CX
	JNZ   decLoop

	STORE_STATE(AX)

decDone:
	RET
