package webhook_test

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/webhook"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		url     string
		blocked bool   // refused for its address (errors.Is ErrBlocked)
		reason  string // in the message; "" when the URL passes
	}{
		"https name":                 {url: "https://example.com/hooks"},
		"http name with port, query": {url: "http://example.com:8080/x?y=1"},
		"public IPv4":                {url: "https://8.8.8.8/"},
		"public IPv6":                {url: "https://[2001:4860:4860::8888]/"},
		"mapped public IPv4":         {url: "https://[::ffff:8.8.8.8]/"},
		"NAT64 of a public IPv4":     {url: "https://[64:ff9b::8.8.8.8]/"},
		"name resolving anywhere":    {url: "https://localhost/"}, // checked when connecting
		"numeric labels in a name":   {url: "https://1.2.3.4.example.com/"},
		"hex-looking name":           {url: "https://0xdeadbeef.com/"},

		"ftp":                  {url: "ftp://example.com/", reason: "http or https"},
		"javascript":           {url: "javascript:alert(1)", reason: "http or https"},
		"no scheme":            {url: "example.com/hooks", reason: "http or https"},
		"credentials":          {url: "https://user:pass@example.com/", reason: "credentials"},
		"user only":            {url: "https://user@example.com/", reason: "credentials"},
		"no host":              {url: "http:///hooks", reason: "host"},
		"opaque":               {url: "http:example.com", reason: "host"},
		"not a URL":            {url: "http://[::1/", reason: "valid URL"},
		"loopback":             {url: "http://127.0.0.1/", blocked: true, reason: "loopback"},
		"loopback range":       {url: "http://127.1.2.3:8080/", blocked: true, reason: "loopback"},
		"trailing dot":         {url: "http://127.0.0.1./", blocked: true, reason: "loopback"},
		"10/8":                 {url: "http://10.1.2.3/", blocked: true, reason: "private"},
		"172.16/12":            {url: "http://172.31.255.255/", blocked: true, reason: "private"},
		"192.168/16":           {url: "http://192.168.0.1/", blocked: true, reason: "private"},
		"metadata service":     {url: "http://169.254.169.254/latest/meta-data/", blocked: true, reason: "link-local"},
		"unspecified":          {url: "http://0.0.0.0/", blocked: true, reason: "this-network"},
		"0/8":                  {url: "http://0.1.2.3/", blocked: true, reason: "this-network"},
		"carrier-grade NAT":    {url: "http://100.64.0.1/", blocked: true, reason: "shared"},
		"multicast":            {url: "http://224.0.0.1/", blocked: true, reason: "multicast"},
		"broadcast":            {url: "http://255.255.255.255/", blocked: true, reason: "broadcast"},
		"v6 loopback":          {url: "http://[::1]:8080/", blocked: true, reason: "loopback"},
		"v6 unspecified":       {url: "http://[::]/", blocked: true, reason: "unspecified"},
		"v6 unique local":      {url: "http://[fd12:3456::1]/", blocked: true, reason: "private"},
		"v6 fc00::/7":          {url: "http://[fc00::1]/", blocked: true, reason: "private"},
		"v6 link-local":        {url: "http://[fe80::1]/", blocked: true, reason: "link-local"},
		"v6 link-local zone":   {url: "http://[fe80::1%25eth0]/", blocked: true, reason: "link-local"},
		"v6 multicast":         {url: "http://[ff02::1]/", blocked: true, reason: "multicast"},
		"mapped loopback":      {url: "http://[::ffff:127.0.0.1]/", blocked: true, reason: "IPv4-mapped loopback"},
		"mapped loopback, hex": {url: "http://[::ffff:7f00:1]/", blocked: true, reason: "IPv4-mapped loopback"},
		"mapped metadata":      {url: "http://[::ffff:169.254.169.254]/", blocked: true, reason: "IPv4-mapped link-local"},
		"mapped private":       {url: "http://[::ffff:10.0.0.1]/", blocked: true, reason: "IPv4-mapped private"},
		"compatible loopback":  {url: "http://[::127.0.0.1]/", blocked: true, reason: "IPv4-compatible loopback"},
		"compatible private":   {url: "http://[::192.168.1.1]/", blocked: true, reason: "IPv4-compatible private"},
		"NAT64 loopback":       {url: "http://[64:ff9b::127.0.0.1]/", blocked: true, reason: "NAT64 loopback"},
		"NAT64 metadata, hex":  {url: "http://[64:ff9b::a9fe:a9fe]/", blocked: true, reason: "NAT64 link-local"},
		"6to4 loopback":        {url: "http://[2002:7f00:1::1]/", blocked: true, reason: "6to4 loopback"},
		"decimal IPv4":         {url: "http://2130706433/", blocked: true, reason: "127.0.0.1"},
		"hex IPv4":             {url: "http://0x7f000001/", blocked: true, reason: "127.0.0.1"},
		"hex and short":        {url: "http://0x7f.1/", blocked: true, reason: "127.0.0.1"},
		"upper-case hex":       {url: "http://0X7F.0.0.1/", blocked: true, reason: "127.0.0.1"},
		"octal IPv4":           {url: "http://0177.0.0.1/", blocked: true, reason: "127.0.0.1"},
		"octal, one part":      {url: "http://017700000001/", blocked: true, reason: "127.0.0.1"},
		"short IPv4":           {url: "http://127.1/", blocked: true, reason: "127.0.0.1"},
		"zero":                 {url: "http://0/", blocked: true, reason: "0.0.0.0"},
		"leading zeros":        {url: "http://127.000.000.001/", blocked: true, reason: "127.0.0.1"},
		"public, decimal":      {url: "http://134744072/", blocked: true, reason: "8.8.8.8"}, // any non-standard form
		"octet out of range":   {url: "http://999.1.1.1/", reason: "invalid numeric"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := webhook.CheckURL(tc.url)
			if tc.reason == "" {
				if err != nil {
					t.Errorf("CheckURL(%q) = %v, want nil", tc.url, err)
				}
				return
			}
			var ue *webhook.URLError
			if !errors.As(err, &ue) {
				t.Fatalf("CheckURL(%q) = %v, want a URLError", tc.url, err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("CheckURL(%q) = %q, want it to name %q", tc.url, err, tc.reason)
			}
			if got := errors.Is(err, webhook.ErrBlocked); got != tc.blocked {
				t.Errorf("errors.Is(ErrBlocked) = %v, want %v", got, tc.blocked)
			}
			// AllowPrivate lifts the address checks alone.
			lifted := webhook.Guard{AllowPrivate: true}.CheckURL(tc.url)
			if tc.blocked && lifted != nil {
				t.Errorf("with AllowPrivate: %v, want nil", lifted)
			}
			if !tc.blocked && tc.reason != "invalid numeric" && lifted == nil {
				t.Errorf("with AllowPrivate %q passes", tc.url)
			}
		})
	}
}

func TestForbidden(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"8.8.8.8": false, "1.1.1.1": false, "172.15.255.255": false, "172.32.0.0": false, "100.63.255.255": false,
		"100.128.0.0": false, "169.253.255.255": false, "2001:4860:4860::8888": false, "::ffff:8.8.8.8": false,
		"64:ff9b::808:808": false, "2002:808:808::": false, "223.255.255.255": false,
		"127.0.0.1": true, "127.255.255.254": true, "10.0.0.0": true, "172.16.0.0": true, "192.168.255.255": true,
		"169.254.169.254": true, "0.0.0.0": true, "100.64.0.0": true, "100.127.255.255": true, "224.0.0.251": true,
		"239.255.255.250": true, "255.255.255.255": true, "::1": true, "::": true, "fc00::": true, "fdff::1": true,
		"fe80::1": true, "febf::1": true, "ff05::2": true, "::ffff:127.0.0.1": true, "::ffff:192.168.0.1": true,
		"::127.0.0.1": true, "::ffff:0:10.0.0.1": true, "64:ff9b::7f00:1": true, "64:ff9b:1::1": true,
		"2002:a00:1::": true, "fe80::1%eth0": true,
	} {
		if got := webhook.Forbidden(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Forbidden(%s) = %v, want %v", addr, got, want)
		}
	}
	if !webhook.Forbidden(netip.Addr{}) {
		t.Error("the zero Addr is allowed")
	}
}

// The client refuses at connect time what DNS gives, and never follows
// a redirect.
func TestClient(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t, nil)
	byName := strings.Replace(recv.srv.URL, "127.0.0.1", "localhost", 1)
	guarded := webhook.NewClient(2*time.Second, false)
	for _, url := range []string{byName, recv.srv.URL} {
		resp, err := guarded.Get(url)
		if err == nil {
			resp.Body.Close()
		}
		var be *webhook.BlockedError
		if !errors.Is(err, webhook.ErrBlocked) || !errors.As(err, &be) || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("guarded GET %s = %v, want blocked as loopback", url, err)
		}
	}
	if n := len(recv.requests()); n != 0 {
		t.Errorf("the receiver got %d requests", n)
	}
	open := webhook.NewClient(2*time.Second, true)
	resp, err := open.Get(byName)
	if err != nil {
		t.Fatalf("AllowPrivate GET: %v", err)
	}
	resp.Body.Close()
	if tr, ok := open.Transport.(*http.Transport); !ok || tr.Proxy != nil {
		t.Error("the client may use a proxy from the environment")
	}
}

// At connect time, the guarded client refuses every forbidden form of
// address before a packet leaves: the dialer's check sees the address
// itself, whatever name or notation led to it.
func TestClientRefusesEveryForbiddenAddressAtConnect(t *testing.T) {
	t.Parallel()
	guarded := webhook.NewClient(2*time.Second, false)
	for _, host := range []string{
		"127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0", "100.64.0.1",
		"224.0.0.1", "255.255.255.255", "[::1]", "[::]", "[fc00::1]", "[fe80::1]", "[ff02::1]",
		"[::ffff:127.0.0.1]", "[::ffff:10.0.0.1]", "[::127.0.0.1]", "[64:ff9b::a00:1]",
	} {
		resp, err := guarded.Get("http://" + host + ":9/hook")
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, webhook.ErrBlocked) {
			t.Errorf("GET http://%s: %v, want blocked", host, err)
		}
	}
}
