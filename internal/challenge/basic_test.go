package challenge

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestDecodeBasic(t *testing.T) {
	tests := []struct {
		name     string
		token68  string
		wantUser string
		wantPass string
	}{
		{"RFC 7617 example", "QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Aladdin", "open sesame"},
		{"UTF-8 user and password (RFC 7617 section 2.1 example)", "dGVzdDoxMjPCow==", "test", "123£"},
		{"password containing colons splits at the first", b64("user:pa:ss:"), "user", "pa:ss:"},
		{"empty user is returned as it is", b64(":secret"), "", "secret"},
		{"empty password", b64("user:"), "user", ""},
		{"empty user and password", b64(":"), "", ""},
		{"Latin-1 bytes returned unchanged for the caller to report", b64("j\xf6rg:p\xe4ss"), "j\xf6rg", "p\xe4ss"},
		{"invalid UTF-8 returned unchanged", b64("u:\xff\xfe"), "u", "\xff\xfe"},
		{"trailing newline kept so the doctor can show it", b64("user:pass\n"), "user", "pass\n"},
		{"plus and slash of the standard alphabet", b64("u:\xfb\xff\xbf"), "u", "\xfb\xff\xbf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, pass, err := DecodeBasic(tt.token68)
			if err != nil {
				t.Fatalf("DecodeBasic error: %v", err)
			}
			if user != tt.wantUser || pass != tt.wantPass {
				t.Errorf("DecodeBasic = %q, %q; want %q, %q", user, pass, tt.wantUser, tt.wantPass)
			}
		})
	}
}

func TestDecodeBasicRejectsMalformedWithoutEchoingIt(t *testing.T) {
	// These password bytes encode to '+' and '/' in standard base64 and '-' and '_' in base64url.
	std := b64("user:\xfb\xff\xbfsecret")
	url := base64.URLEncoding.EncodeToString([]byte("user:\xfb\xff\xbfsecret"))
	if std == url {
		t.Fatal("test input does not exercise the base64url alphabet")
	}
	tests := []struct {
		name    string
		token68 string
		want    error
		detail  string
	}{
		{"base64url alphabet", url, ErrBasicBase64URL, "at byte"},
		{"base64url without padding", base64.RawURLEncoding.EncodeToString([]byte("a:\xfb\xff")), ErrBasicBase64URL, ""},
		{"missing padding", base64.RawStdEncoding.EncodeToString([]byte("user:passw")), ErrBasicNotBase64, "padding missing"},
		{"not base64 at all", "user:secret", ErrBasicNotBase64, "invalid character at byte 4"},
		{"embedded newline (encoding/base64 would skip it)", "dXNl\ncjpw", ErrBasicNotBase64, "invalid character"},
		{"padding in the middle", "dX==cjpw", ErrBasicNotBase64, "invalid data"},
		{"empty", "", ErrBasicNotBase64, "empty"},
		{"no colon", b64("usersecret"), ErrBasicNoColon, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, pass, err := DecodeBasic(tt.token68)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeBasic = %q, %q, %v; want error %v", user, pass, err, tt.want)
			}
			if user != "" || pass != "" {
				t.Errorf("DecodeBasic returned %q, %q along with an error", user, pass)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "decode basic: ") || !strings.Contains(msg, tt.detail) {
				t.Errorf("error %q lacks the operation or the detail %q", msg, tt.detail)
			}
			for _, leak := range []string{"secret", "usersecret", tt.token68} {
				if leak != "" && strings.Contains(msg, leak) {
					t.Errorf("error %q echoes the input", msg)
				}
			}
		})
	}
}

func TestEncodeBasicRoundTrips(t *testing.T) {
	tests := []struct{ user, pass string }{
		{"Aladdin", "open sesame"},
		{"test", "123£"},
		{"", ""},
		{"u", "with:colons:"},
		{"j\xf6rg", "\x00\xff"},
	}
	for _, tt := range tests {
		enc := EncodeBasic(tt.user, tt.pass)
		if enc != b64(tt.user+":"+tt.pass) {
			t.Errorf("EncodeBasic(%q, %q) = %q, not standard base64", tt.user, tt.pass, enc)
		}
		user, pass, err := DecodeBasic(enc)
		if err != nil || user != tt.user || pass != tt.pass {
			t.Errorf("DecodeBasic(EncodeBasic(%q, %q)) = %q, %q, %v", tt.user, tt.pass, user, pass, err)
		}
	}
	if got := EncodeBasic("Aladdin", "open sesame"); got != "QWxhZGRpbjpvcGVuIHNlc2FtZQ==" {
		t.Errorf("EncodeBasic(RFC 7617 example) = %q", got)
	}
}
