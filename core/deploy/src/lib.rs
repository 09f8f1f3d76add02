//! The SpiroFS deploy client (being written; see issue "Deploy").

mod token;

pub use token::Token;
