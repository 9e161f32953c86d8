//go:build amd64 && !purego

#include "textflag.h"

// Registers while a loop runs:
//   X0-X5  the state S0-S5
//   X6     the message block M
//   X7-X9  scratch
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
//   S'0 = AESRound(S5, S0 ^ M)
//   S'i = AESRound(S(i-1), Si), i = 5 down to 1, so that each step still
//         reads the old S(i-1).
#define UPDATE \
	MOVO   X0, X8 \
	PXOR   X6, X8 \
	MOVO   X5, X7 \
	AESENC X8, X7 \
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
	KEYSTREAM
	MOVOU (SI), X6
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
