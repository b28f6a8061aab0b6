// Package colour holds the colour arithmetic the providers that draw
// their own pictures share (the simulator's images, ffmpeg's stills).
package colour

import (
	"image/color"
	"math"
)

// Lerp mixes a and b: t 0 is a, 1 is b.
func Lerp(a, b color.NRGBA, t float64) color.NRGBA {
	m := func(x, y uint8) uint8 { return uint8(float64(x) + (float64(y)-float64(x))*t + 0.5) }
	return color.NRGBA{m(a.R, b.R), m(a.G, b.G), m(a.B, b.B), 255}
}

// HSV converts a hue (in turns; it wraps), saturation and value (0 to 1)
// to an opaque colour.
func HSV(hue, s, v float64) color.NRGBA {
	hue -= math.Floor(hue)
	i := int(hue * 6)
	f := hue*6 - float64(i)
	p, q, t := v*(1-s), v*(1-s*f), v*(1-s*(1-f))
	var r, g, b float64
	switch i % 6 {
	case 0:
		r, g, b = v, t, p
	case 1:
		r, g, b = q, v, p
	case 2:
		r, g, b = p, v, t
	case 3:
		r, g, b = p, q, v
	case 4:
		r, g, b = t, p, v
	default:
		r, g, b = v, p, q
	}
	return color.NRGBA{uint8(r*255 + 0.5), uint8(g*255 + 0.5), uint8(b*255 + 0.5), 255}
}
