package providertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
)

// What the providers' fakes share: the media they answer with, the file
// server of fakes whose outputs are URLs of their own, and the record of
// the calls they received.

// MP4 is the few bytes of an MP4 a fake serves as a video: an ftyp box
// whose brands name mp4, then an empty mdat, enough for a content sniffer
// to see video/mp4.
var MP4 = append([]byte{0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 2, 0, 'i', 's', 'o', 'm', 'm', 'p', '4', '1'},
	0, 0, 0, 8, 'm', 'd', 'a', 't')

// PNG is a small valid PNG, its colour drawn from seed.
func PNG(seed int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	c := color.RGBA{R: uint8(seed * 41), G: uint8(seed * 7), B: uint8(seed * 97), A: 255}
	for y := range 8 {
		for x := range 8 {
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(fmt.Sprintf("providertest: encode png: %v", err))
	}
	return buf.Bytes()
}

// ServeFile answers a fake's output file URL without auth, as providers'
// CDNs do: a path under /files/expired- is gone (404), a .mp4 is MP4, any
// other the PNG given.
func ServeFile(w http.ResponseWriter, r *http.Request, pngBytes []byte) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/files/expired-"):
		w.WriteHeader(http.StatusNotFound)
	case strings.HasSuffix(r.URL.Path, ".mp4"):
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = w.Write(MP4)
	default:
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(pngBytes)
	}
}

// Call is one API call a fake received.
type Call struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// CallOf records r, whose body was read as body.
func CallOf(r *http.Request, body []byte) Call {
	return Call{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
}

// JSON decodes the call's body into a map (nil when it is not JSON).
func (c Call) JSON() map[string]any {
	var m map[string]any
	if json.Unmarshal(c.Body, &m) != nil {
		return nil
	}
	return m
}
