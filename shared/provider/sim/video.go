package sim

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"strconv"
	"strings"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/internal/colour"
	"github.com/videoai/mediatasks/shared/task"
)

// The simulated clip: its long side, and frames per second (each frame
// shows for 1/fps s, so the GIF plays for the requested duration).
const (
	videoLongSide = 160
	videoFPS      = 2
	maxVideoSecs  = 60
)

// videoResult draws the input's clip (its fields left out have their
// defaults).
func videoResult(in *task.VideoInput, render bool) (*provider.Result, error) {
	secs := *in.DurationSeconds
	if secs < 1 || secs > maxVideoSecs {
		return nil, provider.NewRejected("invalid_input", fmt.Sprintf("duration_seconds must be from 1 to %d, not %d", maxVideoSecs, secs), nil)
	}
	w, h, ok := videoSize(in.AspectRatio)
	if !ok {
		return nil, provider.NewRejected("invalid_input", fmt.Sprintf("aspect_ratio %q is not W:H", in.AspectRatio), nil)
	}
	if !render {
		return nil, nil
	}
	frames := secs * videoFPS
	seed := hashString(in.Prompt, in.ImageURL)
	data, err := gifs.get(gifKey{w, h, frames, int(seed % palettes)}, func() ([]byte, error) {
		return drawGIF(w, h, frames, int(seed%palettes))
	})
	if err != nil {
		return nil, provider.NewTransient("encode", "encode the video", err)
	}
	return &provider.Result{
		Files: []provider.File{{ContentType: "image/gif", Ext: ".gif", Data: bytes.Clone(data)}},
		Extra: map[string]any{
			"duration_seconds": secs, "frames": frames, "width": w, "height": h,
			"aspect_ratio": in.AspectRatio, "seed": int64(seed >> 11),
		},
	}, nil
}

// videoSize fits the aspect ratio W:H into a videoLongSide box.
func videoSize(ratio string) (w, h int, ok bool) {
	ws, hs, found := strings.Cut(ratio, ":")
	rw, err1 := strconv.Atoi(ws)
	rh, err2 := strconv.Atoi(hs)
	if !found || err1 != nil || err2 != nil || rw < 1 || rh < 1 || rw > 100 || rh > 100 {
		return 0, 0, false
	}
	if rw >= rh {
		return videoLongSide, max(1, (videoLongSide*rh+rw/2)/rw), true
	}
	return max(1, (videoLongSide*rw+rh/2)/rh), videoLongSide, true
}

type gifKey struct{ w, h, frames, palette int }

var gifs fileCache[gifKey]

// drawGIF draws a clip of a bar sweeping over banded colours. Only the
// first frame is whole; each later one is the small rectangle the bar left
// and entered, so the file stays a few kilobytes.
func drawGIF(w, h, frames, palette int) ([]byte, error) {
	a, b := paletteColors(palette)
	const bands = 8
	pal := make(color.Palette, 0, bands+1)
	for i := range bands {
		pal = append(pal, colour.Lerp(a, b, float64(i)/(bands-1)))
	}
	bar := uint8(len(pal))
	pal = append(pal, color.NRGBA{255, 255, 255, 255})

	background := func(y int) uint8 { return uint8(y * bands / h) }
	barW := max(2, w/10)
	barX := func(i int) int {
		if frames < 2 {
			return 0
		}
		return i * (w - barW) / (frames - 1)
	}
	paint := func(img *image.Paletted, x0 int) {
		r := img.Rect
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				c := background(y)
				if x >= x0 && x < x0+barW {
					c = bar
				}
				img.Pix[img.PixOffset(x, y)] = c
			}
		}
	}

	g := &gif.GIF{Config: image.Config{ColorModel: pal, Width: w, Height: h}, LoopCount: 0}
	delay := 100 / videoFPS // hundredths of a second
	for i := range frames {
		rect := image.Rect(0, 0, w, h)
		if i > 0 {
			rect = image.Rect(barX(i-1), 0, barX(i)+barW, h)
		}
		img := image.NewPaletted(rect, pal)
		paint(img, barX(i))
		g.Image = append(g.Image, img)
		g.Delay = append(g.Delay, delay)
		g.Disposal = append(g.Disposal, gif.DisposalNone)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		return nil, fmt.Errorf("encode gif %dx%d, %d frames: %w", w, h, frames, err)
	}
	return buf.Bytes(), nil
}
