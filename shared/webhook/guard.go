package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrBlocked is wrapped by every refusal of an address: a webhook URL
// naming one at submit, or a connection to one at delivery.
var ErrBlocked = errors.New("webhook: address not allowed")

// URLError says why a webhook URL is refused. Reason is worded to follow
// the field's name ("webhook_url must ...").
type URLError struct {
	URL    string
	Reason string
	// Addr is the refused address, when that is the reason.
	Addr netip.Addr
}

func (e *URLError) Error() string { return "webhook url " + e.Reason }

// Unwrap lets errors.Is(err, ErrBlocked) single out refused addresses.
func (e *URLError) Unwrap() error {
	if e.Addr.IsValid() {
		return ErrBlocked
	}
	return nil
}

// BlockedError is a connection refused because of the address DNS gave.
type BlockedError struct {
	Addr   netip.Addr
	Reason string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("webhook: connecting to %s refused: %s address", e.Addr, e.Reason)
}

func (e *BlockedError) Unwrap() error { return ErrBlocked }

// CheckURL refuses a webhook URL that is not http or https, carries
// credentials, or names a literal IP address the server must not call
// (loopback, private, link-local and the rest: see Forbidden). Host names
// pass: what they resolve to is checked when connecting.
func CheckURL(raw string) error { return Guard{}.CheckURL(raw) }

// Guard checks webhook URLs; AllowPrivate (local development only) lets
// them name any address, keeping the scheme and credential checks.
type Guard struct{ AllowPrivate bool }

// CheckURL is the package's CheckURL, with the guard's setting.
func (g Guard) CheckURL(raw string) error { return checkURL(raw, g.AllowPrivate) }

func checkURL(raw string, allowPrivate bool) error {
	refuse := func(reason string, args ...any) error {
		return &URLError{URL: raw, Reason: fmt.Sprintf(reason, args...)}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return refuse("must be a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return refuse("must use http or https")
	}
	if u.User != nil {
		return refuse("must not contain credentials")
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return refuse("must name a host")
	}
	if allowPrivate {
		return nil
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if why := forbiddenReason(addr); why != "" {
			return &URLError{URL: raw, Reason: fmt.Sprintf("must not point at a %s address (%s)", why, addr), Addr: addr}
		}
		return nil
	}
	// Resolvers read "2130706433", "0x7f.1" or "0177.0.0.1" as IPv4
	// addresses (inet_aton), while no real host name is all numbers: such
	// a host is refused whatever it decodes to, so that no reading of it
	// can slip past the check.
	if addr, ok := numericIPv4(host); ok {
		if !addr.IsValid() {
			return refuse("must not name an invalid numeric address (%s)", host)
		}
		return &URLError{URL: raw, Addr: addr,
			Reason: fmt.Sprintf("must not name an IPv4 address in a non-standard form (%s reads as %s); write it as a.b.c.d", host, addr)}
	}
	return nil
}

// numericIPv4 reads host as inet_aton does: one to four parts, each
// decimal, octal (leading 0) or hex (0x), the last filling the remaining
// bytes. It reports false for anything that is not all numeric parts.
// Parts too large for their place still count as numeric (ok is true with
// an invalid address) so they are refused rather than resolved.
func numericIPv4(host string) (netip.Addr, bool) {
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		base, digits := 10, p
		switch {
		case strings.HasPrefix(p, "0x"):
			base, digits = 16, p[2:]
			if digits == "" {
				digits = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base, digits = 8, p[1:]
		}
		if digits == "" {
			return netip.Addr{}, false
		}
		n, err := strconv.ParseUint(digits, base, 64)
		if err != nil {
			var ne *strconv.NumError
			if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
				return netip.Addr{}, true
			}
			return netip.Addr{}, false
		}
		vals[i] = n
	}
	var v uint64
	last := len(vals) - 1
	for i, n := range vals[:last] {
		if n > 0xff {
			return netip.Addr{}, true
		}
		v |= n << (8 * (3 - i))
	}
	if vals[last] >= 1<<(8*(4-last)) {
		return netip.Addr{}, true
	}
	v |= vals[last]
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// Forbidden reports whether the server must not connect to addr.
func Forbidden(addr netip.Addr) bool { return forbiddenReason(addr) != "" }

var (
	v4Ranges = []struct {
		prefix netip.Prefix
		why    string
	}{
		{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
		{netip.MustParsePrefix("10.0.0.0/8"), "private"},
		{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT)"},
		{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
		{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
		{netip.MustParsePrefix("172.16.0.0/12"), "private"},
		{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
		{netip.MustParsePrefix("192.168.0.0/16"), "private"},
		{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
		{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
		{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
		{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	}
	// IPv6 prefixes whose last 32 bits are an IPv4 address that decides.
	v4Embedding = []struct {
		prefix netip.Prefix
		form   string
	}{
		{netip.MustParsePrefix("::ffff:0:0/96"), "IPv4-mapped"},
		{netip.MustParsePrefix("::/96"), "IPv4-compatible"},
		{netip.MustParsePrefix("::ffff:0:0:0/96"), "IPv4-translated"},
		{netip.MustParsePrefix("64:ff9b::/96"), "NAT64"},
	}
	v6Ranges = []struct {
		prefix netip.Prefix
		why    string
	}{
		{netip.MustParsePrefix("fc00::/7"), "private"},
		{netip.MustParsePrefix("fec0::/10"), "site-local"},
		{netip.MustParsePrefix("fe80::/10"), "link-local"},
		{netip.MustParsePrefix("ff00::/8"), "multicast"},
		{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
		{netip.MustParsePrefix("100::/64"), "discard-only"},
	}
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// forbiddenReason names the kind of address addr is when the server must
// not connect to it, or returns "".
func forbiddenReason(addr netip.Addr) string {
	addr = addr.WithZone("")
	if !addr.IsValid() {
		return "invalid"
	}
	if addr.Is4() {
		for _, r := range v4Ranges {
			if r.prefix.Contains(addr) {
				return r.why
			}
		}
		return ""
	}
	// Compared exactly: netip's IsLoopback also reads the mapped forms,
	// which are named below for what they are.
	switch addr {
	case netip.IPv6Unspecified():
		return "unspecified"
	case netip.IPv6Loopback():
		return "loopback"
	}
	b := addr.As16()
	for _, e := range v4Embedding {
		if e.prefix.Contains(addr) {
			v4 := netip.AddrFrom4([4]byte(b[12:16]))
			if why := forbiddenReason(v4); why != "" {
				return e.form + " " + why
			}
			return ""
		}
	}
	if sixToFour.Contains(addr) {
		if why := forbiddenReason(netip.AddrFrom4([4]byte(b[2:6]))); why != "" {
			return "6to4 " + why
		}
		return ""
	}
	for _, r := range v6Ranges {
		if r.prefix.Contains(addr) {
			return r.why
		}
	}
	return ""
}

// control refuses a connection to a forbidden address. It runs after DNS,
// on the very address being dialled, so a name resolving inside, or
// resolving differently the second time (DNS rebinding), is caught.
func control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedError{Reason: "unparsable (" + address + ")"}
	}
	if why := forbiddenReason(ap.Addr()); why != "" {
		return &BlockedError{Addr: ap.Addr(), Reason: why}
	}
	return nil
}

// NewClient returns the HTTP client that delivers webhooks: it follows no
// redirect (a 3xx is the answer), uses no proxy from the environment, gives
// up after timeout, and, unless allowPrivate, refuses to connect to
// forbidden addresses.
func NewClient(timeout time.Duration, allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = control
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   min(timeout, 10*time.Second),
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// CheckSubmitted vets a webhook URL given at submit: its error's text
// says what is wrong with the URL, to be shown as the field's message.
func (g Guard) CheckSubmitted(rawURL string) error {
	err := g.CheckURL(rawURL)
	if ue, ok := errors.AsType[*URLError](err); ok {
		return errors.New(ue.Reason)
	}
	return err
}
