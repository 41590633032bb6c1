//! The forge agent loop: model turns, batched tool dispatch, stop conditions and many concurrent conversations.
