package issuer

// StatusOfForTest exposes the status of each error code to the external tests.
func StatusOfForTest() map[string]int { return statusOf }
