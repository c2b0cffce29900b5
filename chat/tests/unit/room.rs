//! Unit tests of `chat/src/room.rs` (a child module of it, kept out of `src/`).

use super::*;

#[test]
fn the_room_lists_clients_in_arrival_order_and_refuses_look_alikes() {
    let mut room = Room::default();
    let first = room.join(1, &"alice".into()).expect("alice");
    assert_eq!(&*first.welcome, "You are alice\nCurrent clients: none\n");
    assert_eq!(&*first.arrival, "alice has arrived\n");
    assert!(room.join(2, &"ALICE".into()).is_none());
    room.join(2, &"bob".into()).expect("bob");
    let third = room.join(3, &"carol".into()).expect("carol");
    assert_eq!(
        &*third.welcome,
        "You are carol\nCurrent clients: alice, bob\n"
    );
    assert_eq!(room.leave(1).as_deref(), Some("alice"));
    assert_eq!(room.leave(1), None);
    // The name is free again.
    let again = room.join(4, &"Alice".into()).expect("Alice");
    assert_eq!(
        &*again.welcome,
        "You are Alice\nCurrent clients: bob, carol\n"
    );
}
