"""shopper_chat."""
