// Package secret holds Gatehouse's credential cryptography: the API key format, key
// generation and hashing, password hashing and verification, htpasswd parsing, and the
// bounded single-flight cache that verified results go through. Secrets come from
// crypto/rand and are compared with crypto/subtle; no function here puts a secret in an
// error.
//
// # API key format
//
// An API key is
//
//	gk_<env>_<id>_<secret><checksum>
//
// where
//
//   - "gk_" is a fixed prefix, so scanners and the gateway recognise a key by sight;
//   - <env> is the environment the key was made for: 1 to 16 characters of [a-z0-9];
//   - <id> is the public lookup id: 12 base62 characters from crypto/rand (71 bits);
//   - <secret> is 32 base62 characters from crypto/rand (190 bits);
//   - <checksum> is 6 base62 characters: the CRC-32 (IEEE 802.3 polynomial, as in
//     hash/crc32.ChecksumIEEE, zlib and PNG) of the ASCII bytes of everything before it,
//     "gk_<env>_<id>_<secret>", written as a big-endian base62 number left-padded with '0'
//     to 6 digits (2^32 < 62^6).
//
// The base62 digits are, in order of value, 0-9, A-Z, a-z. A whole key matches the
// regular expression
//
//	gk_[a-z0-9]{1,16}_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}
//
// For example, the body gk_live_0123456789ab_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef has the
// CRC-32 0xfc809035 (4236283957), which is "4ch0yb" in base62, so the key is
//
//	gk_live_0123456789ab_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef4ch0yb
//
// A secret scanner or `gatehouse doctor` can confirm a match offline by recomputing
// the checksum: a key whose checksum fails was truncated or mistyped, and the gateway
// refuses it as credentials_malformed without a store lookup. The checksum detects every
// single-character change and every truncation; it is not a security measure (anyone can
// compute it), only a typo detector.
//
// The store keeps only a hash of the key's body (everything before the checksum):
// SHA-256, or HMAC-SHA256 keyed by a server-side pepper when one is configured (see
// KeyHasher).
//
// # Passwords
//
// New passwords are hashed with argon2id and stored as PHC strings
// ($argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, unpadded standard base64). Verification
// accepts argon2id and bcrypt ($2a$, $2b$, $2y$); every weaker format (MD5 apr1, SHA-1
// {SHA}, DES or MD5 crypt, plain text) is refused.
//
// ParseHashParams reads a stored hash's family and cost; HashParams.Work orders costs
// across families (bcrypt converted by a measured factor) and HashParams.DummyHash makes
// a hash of the same cost that nothing matches, without hashing, so an unknown user can
// cost what the slowest stored user costs. NeedsRehash says whether a verified password
// should be stored again with the parameters of new passwords.
package secret
