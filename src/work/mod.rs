//! Background work: the embedded queue ([`background`]), RabbitMQ ([`broker`]), the durable
//! outbox ([`outbox`]), jobs ([`jobs`]) and upload events ([`events`]).

pub mod background;
pub mod broker;
pub mod events;
pub mod jobs;
pub mod outbox;
