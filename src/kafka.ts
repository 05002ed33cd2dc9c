/**
 * `potter/kafka` — Potter on Apache Kafka through kafkajs (an optional peer dependency:
 * `npm i kafkajs`), loaded only when a bus is created.
 */
export * from './messaging/kafka';
