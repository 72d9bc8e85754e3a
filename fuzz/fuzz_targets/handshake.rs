//! Both handshake sides fed arbitrary bytes, split where the first byte says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmp_handshake::{
    ClientHandshake, ClientHandshakeConfig, ServerHandshake, ServerHandshakeConfig,
};

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let step = usize::from(split).max(1) * 13;
    let mut server = ServerHandshake::new(ServerHandshakeConfig {
        verify_c2: split & 1 == 1,
        ..ServerHandshakeConfig::default()
    });
    let mut client = ClientHandshake::new(ClientHandshakeConfig {
        verify_s2: split & 2 == 2,
        ..ClientHandshakeConfig::default()
    });
    for piece in input.chunks(step) {
        let _ = server.read(piece);
        let _ = server.take_output();
        let _ = client.read(piece);
        let _ = client.take_output();
    }
});
