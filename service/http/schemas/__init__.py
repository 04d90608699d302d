"""What requests and answers look like at the HTTP edge: one module per endpoint family."""
