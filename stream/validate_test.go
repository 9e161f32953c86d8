package stream

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateBasinName(t *testing.T) {
	for _, tc := range []struct {
		name, want string
	}{
		{"my-basin-1", ""},
		{"abcdefgh", ""},
		{strings.Repeat("a", 48), ""},
		{"short", "basin name should be at least 8 bytes in length"},
		{"", "basin name should be at least 8 bytes in length"},
		{strings.Repeat("a", 49), "basin name should be at most 48 bytes in length"},
		{"Uppercase", "basin name must begin with a lowercase letter or number"},
		{"upperCase", "basin name must comprise lowercase letters, numbers, and hyphens"},
		{"under_score", "basin name must comprise lowercase letters, numbers, and hyphens"},
		{"-leading-hyphen", "basin name must begin with a lowercase letter or number"},
		{"trailing-hyphen-", "basin name must end with a lowercase letter or number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkNameErr(t, ValidateBasinName(tc.name), BasinName, tc.want)
		})
	}
}

func TestValidatePrefixes(t *testing.T) {
	for _, tc := range []struct {
		what string
		err  error
		kind NameKind
		want string
	}{
		{"empty basin prefix", ValidateBasinPrefix(BasinNamePrefix, ""), BasinNamePrefix, ""},
		{"basin prefix ending in hyphen", ValidateBasinPrefix(BasinNamePrefix, "ab-"), BasinNamePrefix, ""},
		{"basin prefix with hyphen first", ValidateBasinPrefix(BasinNamePrefix, "-ab"), BasinNamePrefix, "basin name prefix must begin with a lowercase letter or number"},
		{"basin start_after uppercase", ValidateBasinPrefix(BasinStartAfter, "aB"), BasinStartAfter, "basin start_after must comprise lowercase letters, numbers, and hyphens"},
		{"basin prefix too long", ValidateBasinPrefix(BasinNamePrefix, strings.Repeat("a", 49)), BasinNamePrefix, "basin name prefix should be at most 48 bytes in length"},
		{"stream prefix anything", ValidateStreamPrefix(StreamNamePrefix, "../日本/\x00"), StreamNamePrefix, ""},
		{"stream prefix too long", ValidateStreamPrefix(StreamStartAfter, strings.Repeat("a", 513)), StreamStartAfter, "stream start_after must not exceed 512 bytes in length"},
		{"request token", ValidateRequestToken(strings.Repeat("t", 36)), RequestTokenField, ""},
		{"request token too long", ValidateRequestToken(strings.Repeat("t", 37)), RequestTokenField, "request token must not exceed 36 bytes in length"},
	} {
		t.Run(tc.what, func(t *testing.T) { checkNameErr(t, tc.err, tc.kind, tc.want) })
	}
}

func TestValidateStreamName(t *testing.T) {
	for _, tc := range []struct {
		name, want string
	}{
		{"a", ""},
		{"with/slash", ""},
		{"日本語", ""},
		{"...", ""},
		{strings.Repeat("s", 512), ""},
		{"", "stream name must not be empty"},
		{".", `stream name must not be "." or ".."`},
		{"..", `stream name must not be "." or ".."`},
		{strings.Repeat("s", 513), "stream name must not exceed 512 bytes in length"},
		{"\xff", "stream name must be valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) { checkNameErr(t, ValidateStreamName(tc.name), StreamName, tc.want) })
	}
}

func checkNameErr(t *testing.T, err error, kind NameKind, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	var ne *InvalidNameError
	if !errors.As(err, &ne) {
		t.Fatalf("error = %v, want InvalidNameError", err)
	}
	if ne.Kind != kind || ne.Message != want {
		t.Fatalf("got %s: %q, want %s: %q", ne.Kind, ne.Message, kind, want)
	}
}

func TestMeteredSize(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  AppendRecord
		want uint64
	}{
		{"empty", AppendRecord{}, 8},
		{"body", AppendRecord{Body: []byte("first")}, 13},
		{"headers", AppendRecord{Headers: []Header{{Name: []byte("k"), Value: []byte("vv")}, {Name: []byte("x"), Value: nil}}, Body: []byte("b")}, 8 + 4 + 3 + 1 + 1},
		{"fence", fenceRecord("tok"), 8 + 2 + 5 + 3},
		{"trim", trimRecord(7), 22},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rec.MeteredBytes(); got != tc.want {
				t.Fatalf("metered = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestValidateAppendInput(t *testing.T) {
	big := make([]byte, MaxRecordBytes)
	half := make([]byte, MaxRecordBytes/2)
	many := make([]AppendRecord, MaxBatchRecords+1)
	for _, tc := range []struct {
		name string
		in   AppendInput
		want string
	}{
		{"ok", AppendInput{Records: records("a")}, ""},
		{"max records", AppendInput{Records: many[:MaxBatchRecords]}, ""},
		{"fence and trim", AppendInput{Records: []AppendRecord{fenceRecord(""), trimRecord(3)}}, ""},
		{"empty", AppendInput{}, "record batch must not be empty"},
		{"too many", AppendInput{Records: many}, "record batch must not exceed 1000 records"},
		{"record too big", AppendInput{Records: []AppendRecord{{Body: big}}}, "record must have metered size less than 1 MiB"},
		{"batch too big", AppendInput{Records: []AppendRecord{{Body: half}, {Body: half}}}, "record batch must not exceed a metered size of 1 MiB"},
		{"unknown command", AppendInput{Records: []AppendRecord{{Headers: []Header{{Value: []byte("not-a-command")}}}}}, "unknown command"},
		{"empty name with others", AppendInput{Records: []AppendRecord{{Headers: []Header{{Value: []byte("fence")}, {Name: []byte("x"), Value: []byte("y")}}}}}, "invalid header: empty name"},
		{"empty name second", AppendInput{Records: []AppendRecord{{Headers: []Header{{Name: []byte("x")}, {Value: []byte("fence")}}}}}, "invalid header: empty name"},
		{"fence not utf8", AppendInput{Records: []AppendRecord{{Headers: []Header{{Value: []byte("fence")}}, Body: []byte{0xff}}}}, "invalid `fence` command: invalid UTF-8"},
		{"fence too long", AppendInput{Records: []AppendRecord{fenceRecord(strings.Repeat("f", 37))}}, "invalid `fence` command: fencing token must not exceed 36 bytes in length"},
		{"trim short", AppendInput{Records: []AppendRecord{{Headers: []Header{{Value: []byte("trim")}}, Body: []byte{1, 2}}}}, "invalid `trim` command: earliest sequence number to trim to was 2 bytes, must be 8"},
		{"fencing token too long", AppendInput{Records: records("a"), FencingToken: str(strings.Repeat("f", 37))}, "fencing token must not exceed 36 bytes in length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := validateAppendInput(tc.in)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			wantCode(t, err, CodeInvalid)
			if msg := err.(*Error).Message; msg != tc.want {
				t.Fatalf("message %q, want %q", msg, tc.want)
			}
		})
	}
}

func TestRecordCodec(t *testing.T) {
	for _, rec := range []SequencedRecord{
		{SeqNum: 1, Timestamp: 2},
		{SeqNum: 3, Timestamp: 4, Body: []byte("body")},
		{SeqNum: 5, Timestamp: 6, Headers: []Header{{Name: []byte("k"), Value: []byte("v")}, {Name: []byte(""), Value: []byte("")}}, Body: []byte("x")},
	} {
		got, err := decodeRecord(rec.SeqNum, encodeRecord(rec.Timestamp, rec.Headers, rec.Body))
		if err != nil {
			t.Fatal(err)
		}
		if got.SeqNum != rec.SeqNum || got.Timestamp != rec.Timestamp || string(got.Body) != string(rec.Body) || len(got.Headers) != len(rec.Headers) {
			t.Fatalf("round trip: got %+v want %+v", got, rec)
		}
		for i := range rec.Headers {
			if string(got.Headers[i].Name) != string(rec.Headers[i].Name) || string(got.Headers[i].Value) != string(rec.Headers[i].Value) {
				t.Fatalf("header %d: got %+v want %+v", i, got.Headers[i], rec.Headers[i])
			}
		}
	}
	for _, bad := range [][]byte{nil, {1, 2, 3}, append(make([]byte, 8), 5)} {
		if _, err := decodeRecord(0, bad); !errors.Is(err, errCorrupt) {
			t.Fatalf("decode %x: err = %v, want errCorrupt", bad, err)
		}
	}
}
