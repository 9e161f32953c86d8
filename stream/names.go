package stream

import (
	"fmt"
	"unicode/utf8"
)

// Name rules of API section 2. The messages follow the reference server.

const (
	minBasinNameLen  = 8
	maxBasinNameLen  = 48
	maxStreamNameLen = 512
	maxRequestToken  = 36
	maxFencingToken  = 36
)

// ValidateBasinName checks a basin name: 8 to 48 bytes of a-z, 0-9 and
// '-', not starting or ending with '-'.
func ValidateBasinName(name string) error {
	if len(name) < minBasinNameLen {
		return &InvalidNameError{Kind: BasinName, Message: fmt.Sprintf("basin name should be at least %d bytes in length", minBasinNameLen)}
	}
	if len(name) > maxBasinNameLen {
		return &InvalidNameError{Kind: BasinName, Message: fmt.Sprintf("basin name should be at most %d bytes in length", maxBasinNameLen)}
	}
	if err := checkBasinChars(BasinName, name); err != nil {
		return err
	}
	if name[len(name)-1] == '-' {
		return &InvalidNameError{Kind: BasinName, Message: "basin name must end with a lowercase letter or number"}
	}
	return nil
}

// ValidateBasinPrefix checks a basin prefix or start_after value (kind
// says which): up to 48 bytes of the basin alphabet, not starting with
// '-', possibly empty.
func ValidateBasinPrefix(kind NameKind, prefix string) error {
	if len(prefix) > maxBasinNameLen {
		return &InvalidNameError{Kind: kind, Message: fmt.Sprintf("%s should be at most %d bytes in length", kind, maxBasinNameLen)}
	}
	if prefix == "" {
		return nil
	}
	return checkBasinChars(kind, prefix)
}

func checkBasinChars(kind NameKind, s string) error {
	if !isLowerAlnum(s[0]) {
		return &InvalidNameError{Kind: kind, Message: fmt.Sprintf("%s must begin with a lowercase letter or number", kind)}
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLowerAlnum(c) && c != '-' {
			return &InvalidNameError{Kind: kind, Message: fmt.Sprintf("%s must comprise lowercase letters, numbers, and hyphens", kind)}
		}
	}
	return nil
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// ValidateStreamName checks a stream name: 1 to 512 bytes of UTF-8, not
// "." or "..".
func ValidateStreamName(name string) error {
	switch {
	case name == "":
		return &InvalidNameError{Kind: StreamName, Message: "stream name must not be empty"}
	case len(name) > maxStreamNameLen:
		return &InvalidNameError{Kind: StreamName, Message: fmt.Sprintf("stream name must not exceed %d bytes in length", maxStreamNameLen)}
	case name == "." || name == "..":
		return &InvalidNameError{Kind: StreamName, Message: "stream name must not be \".\" or \"..\""}
	case !utf8.ValidString(name):
		return &InvalidNameError{Kind: StreamName, Message: "stream name must be valid UTF-8"}
	}
	return nil
}

// ValidateStreamPrefix checks a stream prefix or start_after value: at most
// 512 bytes, anything allowed.
func ValidateStreamPrefix(kind NameKind, prefix string) error {
	if len(prefix) > maxStreamNameLen {
		return &InvalidNameError{Kind: kind, Message: fmt.Sprintf("%s must not exceed %d bytes in length", kind, maxStreamNameLen)}
	}
	return nil
}

// ValidateRequestToken checks an s2-request-token: at most 36 bytes.
func ValidateRequestToken(token string) error {
	if len(token) > maxRequestToken {
		return &InvalidNameError{Kind: RequestTokenField, Message: fmt.Sprintf("request token must not exceed %d bytes in length", maxRequestToken)}
	}
	return nil
}

// ValidateFencingToken checks a fencing token: at most 36 bytes of UTF-8.
// The transport decides the status (400 bad_json in JSON, 422 otherwise);
// Append reports it as 422 invalid.
func ValidateFencingToken(token string) error {
	if len(token) > maxFencingToken {
		return invalidf("fencing token must not exceed %d bytes in length", maxFencingToken)
	}
	if !utf8.ValidString(token) {
		return invalidf("fencing token must be valid UTF-8")
	}
	return nil
}
