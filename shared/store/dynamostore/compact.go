package dynamostore

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"sync"
)

// Documents (a task's input, output, history; an event's snapshot of its
// task) are stored deflated: JSON shrinks to about half, which keeps a
// task item and its events under 1 KB, and a write unit buys 1 KB. Raw
// DEFLATE (RFC 1951) rather than gzip or zlib: their headers and
// checksums would add 6 to 18 bytes to documents of a few hundred, and
// DynamoDB already checks what it stores.

var deflaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestCompression) // the level is valid: no error
	return w
}}

// deflate compresses a document.
func deflate(doc []byte) []byte {
	var buf bytes.Buffer
	w := deflaters.Get().(*flate.Writer)
	defer deflaters.Put(w)
	w.Reset(&buf)
	// Writes to a bytes.Buffer cannot fail.
	_, _ = w.Write(doc)
	_ = w.Close()
	return buf.Bytes()
}

// maxInflated bounds what one stored document may inflate to: an item is
// at most 400 KB, and nothing the store writes compresses beyond 100:1.
const maxInflated = 64 << 20

// inflate decompresses a document deflate wrote.
func inflate(z []byte) ([]byte, error) {
	r := flate.NewReader(bytes.NewReader(z))
	defer r.Close()
	doc, err := io.ReadAll(io.LimitReader(r, maxInflated+1))
	if err != nil {
		return nil, fmt.Errorf("inflate: %w", err)
	}
	if len(doc) > maxInflated {
		return nil, fmt.Errorf("inflate: document over %d bytes", maxInflated)
	}
	return doc, nil
}
