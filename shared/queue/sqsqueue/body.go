package sqsqueue

import (
	"encoding/base64"
	"fmt"
	"unicode/utf8"
)

// bodyEncodingAttribute is the message attribute that says how a body
// that SQS could not carry as text was encoded. Without it the SQS body
// is the message's own bytes.
const bodyEncodingAttribute = "body-encoding"

// Body encodings.
const (
	encodingBase64 = "base64"
	// encodingEmpty: SQS refuses an empty body, so an empty message
	// travels as a placeholder.
	encodingEmpty = "empty"
)

const emptyPlaceholder = "-"

// encodeBody returns the SQS body for b and its encoding. Text SQS
// accepts travels as it is (readable in the console, a third smaller than
// base64); anything else as base64.
func encodeBody(b []byte) (body, encoding string) {
	switch {
	case len(b) == 0:
		return emptyPlaceholder, encodingEmpty
	case isSQSText(b):
		return string(b), ""
	default:
		return base64.StdEncoding.EncodeToString(b), encodingBase64
	}
}

func decodeBody(body, encoding string) ([]byte, error) {
	switch encoding {
	case "":
		return []byte(body), nil
	case encodingEmpty:
		return []byte{}, nil
	case encodingBase64:
		b, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return nil, fmt.Errorf("decode base64 body: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("unknown body encoding %q", encoding)
}

// isSQSText reports whether b is text that SQS carries unchanged: UTF-8
// of #x9, #xA, #xD and #x20 to #xFFFD outside the surrogates. SQS also
// accepts #x10000 and above, but fauxqs, the emulator the tests run
// against, refuses them (it checks UTF-16 code units), so those go as
// base64, which both accept.
func isSQSText(b []byte) bool {
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			return false
		}
		switch {
		case r == 0x9 || r == 0xA || r == 0xD:
		case r >= 0x20 && r <= 0xD7FF:
		case r >= 0xE000 && r <= 0xFFFD:
		default:
			return false
		}
		b = b[size:]
	}
	return true
}
