// Defines a type's EncodeTo/DecodeFrom from its one Fields() visitor (see codec.h).
#pragma once

#define CITY_LEDGER_CODEC(Type)                                           \
  void Type::EncodeTo(Encoder& encoder) const { Fields(encoder, *this); } \
  Type Type::DecodeFrom(Decoder& decoder) {                               \
    Type object;                                                          \
    Fields(decoder, object);                                              \
    return object;                                                        \
  }
