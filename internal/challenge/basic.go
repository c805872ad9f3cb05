package challenge

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Errors returned by DecodeBasic, wrapped with details that describe the shape of the
// input (a length, a byte offset), never its content. Test for them with errors.Is.
var (
	// ErrBasicNotBase64 means the token68 is not standard base64 with padding.
	ErrBasicNotBase64 = errors.New("not standard base64")
	// ErrBasicBase64URL means the token68 uses the base64url alphabet ('-' or '_'),
	// which RFC 7617 does not allow; many servers reject it.
	ErrBasicBase64URL = errors.New("base64url alphabet used where standard base64 is required")
	// ErrBasicNoColon means the decoded bytes have no ':' between user and password.
	ErrBasicNoColon = errors.New("no ':' between user and password")
)

// DecodeBasic decodes the token68 of a Basic credential (RFC 7617): standard base64 with
// padding, then a split at the FIRST colon, so the password may contain ':' and the user
// cannot. user and pass are returned as the bytes that were sent, UTF-8 or not, so that a
// caller can report the encoding; an empty user is returned as it is. Errors wrap
// ErrBasicNotBase64, ErrBasicBase64URL or ErrBasicNoColon and never echo the value.
func DecodeBasic(token68 string) (user, pass string, err error) {
	if err := checkBase64(token68); err != nil {
		return "", "", fmt.Errorf("decode basic: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(token68)
	if err != nil {
		// checkBase64 accepted the alphabet and length; what is left is misplaced padding.
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			return "", "", fmt.Errorf("decode basic: %w (invalid data at byte %d)", ErrBasicNotBase64, int64(ce))
		}
		return "", "", fmt.Errorf("decode basic: %w", ErrBasicNotBase64)
	}
	u, p, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", fmt.Errorf("decode basic: %w", ErrBasicNoColon)
	}
	return u, p, nil
}

// checkBase64 checks the alphabet and length itself, because encoding/base64 silently
// skips '\r' and '\n' and would report a base64url string as merely corrupt.
func checkBase64(s string) error {
	if s == "" {
		return fmt.Errorf("%w (empty)", ErrBasicNotBase64)
	}
	url := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/', c == '=':
		case c == '-' || c == '_':
			if url < 0 {
				url = i
			}
		default:
			return fmt.Errorf("%w (invalid character at byte %d)", ErrBasicNotBase64, i)
		}
	}
	if url >= 0 {
		return fmt.Errorf("%w (at byte %d)", ErrBasicBase64URL, url)
	}
	if len(s)%4 != 0 {
		return fmt.Errorf("%w (length %d is not a multiple of 4; padding missing?)", ErrBasicNotBase64, len(s))
	}
	return nil
}

// EncodeBasic returns the token68 of a Basic credential: standard base64 of
// user ":" pass, as given (RFC 7617 recommends UTF-8). A user containing ':' cannot be
// represented; DecodeBasic would split it at that colon.
func EncodeBasic(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}
