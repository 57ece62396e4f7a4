"""Image decoding, hash algorithms, hash lists, the fingerprint store and the Hamming index.

Knows nothing of crawling, SQL or notices.
"""
