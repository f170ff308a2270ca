"""flashd: RTL generator and verification flow for FlashAttention-2 and FLASH-D hardware."""
